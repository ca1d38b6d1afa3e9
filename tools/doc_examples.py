#!/usr/bin/env python3
"""Compiles every C++ example of the documentation, so that none can rot.

Run from the repository's root (//tools:doc_examples_test does), or with
--root. Exit status 0 when every example compiles, 1 otherwise.

Where the examples are
  - README.md and docs/*.md: fenced blocks. A ```cpp (or ```c++) block is
    compiled. Every fence names its language: a bare ``` fails the check
    (write ```text for output, tables and other non-code).
  - The public headers (runtime/, sim/, testing/, traces/; not internal/):
    a run of comment lines indented by 3 or more spaces after the `//`
    ("//   code"), empty `//` lines inside it included. A run whose first
    line is a list item ("- ...") or that continues one (the line above it
    is "// - ...") is prose, not an example.

Markers (on the lines just above a block; empty lines, or empty `//` lines
in headers, may come between). In Markdown they are HTML comments, so they
do not show when rendered; in headers, plain comment lines:
  <!-- example: skip REASON -->          // example: skip REASON
      not compiled (a table, command lines, output, a sketch); the reason
      is required, and the block is reported as skipped.
  <!-- example-prelude: CODE -->          // example-prelude: CODE
      CODE (C++; it may span lines in Markdown, and in headers several
      such lines add up) is put before the block, at namespace scope: the
      declarations of what the example assumes exists, such as
      `int expensive_blocking_call();` or `gevent::Socket& conn = ...;`.

How a block is compiled
  All blocks go into one translation unit, after a prelude that includes
  runtime/gevent.h, the sim/, testing/ and traces/ headers the examples
  use, examples/echo.h and GoogleTest (no `using namespace`: examples
  write gevent::); `g++ -std=c++17 -fsyntax-only`. Each block gets its own
  namespace. Its top-level pieces are told apart by their first line: a declaration (#include, class, struct, enum, namespace,
  template, using, TEST..., GEVENT_SIM_TEST, GEVENT_INSTANTIATE_BACKENDS,
  or a function definition such as `int main() {`) stays at namespace
  scope; anything else (statements) goes, in order, into the body of one
  function after them. #include lines are moved to the top of the unit.
  `#line` directives make the compiler's errors name the document and the
  line of the block, e.g. "README.md:72:3: error: ...".

The check also fails if runtime/gevent.h does not reach every public
runtime/ header (through its #includes).
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

PRELUDE_HEADERS = [
    "runtime/gevent.h",
    "sim/network.h",
    "sim/simulation.h",
    "testing/assert_switches.h",
    "testing/explore.h",
    "testing/hub_test.h",
    "traces/reader.h",
    "traces/recorder.h",
    "traces/replay.h",
    "examples/echo.h",
    "gtest/gtest.h",
]

HEADER_DIRS = ["runtime", "sim", "testing", "traces"]

SKIP_RE = re.compile(r"^example:\s*skip\b\s*(.*)$")
PRELUDE_RE = re.compile(r"^example-prelude:\s*(.*)$", re.S)

DECL_START = re.compile(
    r"^(#|(class|struct|union|enum|namespace|template|using|typedef)\b|"
    r"(TEST|TEST_F|TEST_P|TYPED_TEST|GEVENT_SIM_TEST|GEVENT_INSTANTIATE_BACKENDS|"
    r"INSTANTIATE_TEST_SUITE_P)\s*\()")
# A function definition's first line: a type, a name, "(", and "{" at its end
# (no "=" before the parenthesis, so `auto f = [] {` is a statement).
FUNC_DEF = re.compile(r"^[\w:<>,*& ]+[\s*&]+[\w:~]+\([^=;]*\)\s*(const\s*)?\{\s*$")
STATEMENT_KEYWORDS = {"return", "if", "for", "while", "do", "switch", "try",
                      "else", "case", "throw", "co_await", "delete", "new"}


class Block:
    def __init__(self, path, line, lines, skip=None, prelude=None, prelude_line=None):
        self.path = path          # the document, relative to the root
        self.line = line          # 1-based line of the block's first code line
        self.lines = lines        # the code, one entry per document line
        self.skip = skip          # the skip reason, or None
        self.prelude = prelude    # extra code, or None
        self.prelude_line = prelude_line


class Problem(Exception):
    pass


def markdown_markers(lines, i):
    """The example markers above line index i (a fence) of a Markdown file."""
    skip, prelude, prelude_line = None, None, None
    j = i - 1
    while j >= 0:
        text = lines[j].strip()
        if not text:
            j -= 1
            continue
        if not text.endswith("-->"):
            break
        # Find the comment's start (it may span lines).
        k = j
        while k >= 0 and "<!--" not in lines[k]:
            k -= 1
        if k < 0:
            break
        body = "\n".join(lines[k:j + 1]).strip()
        body = body[len("<!--"):-len("-->")].strip()
        m = SKIP_RE.match(body)
        if m:
            skip = m.group(1).strip() or ""
        m = PRELUDE_RE.match(body)
        if m:
            prelude = m.group(1).strip()
            prelude_line = k + 1
        if not (SKIP_RE.match(body) or PRELUDE_RE.match(body)):
            break
        j = k - 1
    return skip, prelude, prelude_line


def markdown_blocks(root, path):
    """Blocks of one Markdown file: (compiled/skipped blocks, non-C++ count)."""
    lines = open(os.path.join(root, path), encoding="utf-8").read().split("\n")
    blocks, other = [], 0
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([^\s`]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(2), m.group(3).lower()
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*" + re.escape(fence) + r"\s*$", lines[j]):
            j += 1
        if j >= len(lines):
            raise Problem("%s:%d: the fence is never closed" % (path, i + 1))
        if not lang:
            raise Problem("%s:%d: a fence without a language: write ```cpp for C++ "
                          "(compiled) or ```text, ```sh, ... for anything else"
                          % (path, i + 1))
        if lang in ("cpp", "c++"):
            indent = len(m.group(1))
            body = [l[indent:] if l[:indent].strip() == "" else l for l in lines[i + 1:j]]
            skip, prelude, prelude_line = markdown_markers(lines, i)
            blocks.append(Block(path, i + 2, body, skip, prelude, prelude_line))
        else:
            other += 1
        i = j + 1
    return blocks, other


COMMENT_RE = re.compile(r"^\s*//(.*)$")


def comment_text(line):
    m = COMMENT_RE.match(line)
    return None if m is None else m.group(1)


def is_indented(line):
    text = comment_text(line)
    return text is not None and re.match(r"^ {3,}\S", text) is not None


def is_empty_comment(line):
    text = comment_text(line)
    return text is not None and text.strip() == ""


def header_blocks(root, path):
    """Example blocks of one header, and how many indented runs were lists."""
    lines = open(os.path.join(root, path), encoding="utf-8").read().split("\n")
    blocks, lists = [], 0
    i = 0
    while i < len(lines):
        if not is_indented(lines[i]):
            i += 1
            continue
        j = i
        while j < len(lines):
            if is_indented(lines[j]):
                j += 1
            elif is_empty_comment(lines[j]) and j + 1 < len(lines) and is_indented(lines[j + 1]):
                j += 1
            else:
                break
        first = comment_text(lines[i]).strip()
        above = comment_text(lines[i - 1]) if i > 0 else None
        if first.startswith("- ") or (above is not None and above.strip().startswith("- ")):
            lists += 1
            i = j
            continue
        # Markers above (skipping empty comment lines).
        skip, prelude, prelude_line = None, None, None
        k = i - 1
        while k >= 0 and comment_text(lines[k]) is not None:
            text = comment_text(lines[k]).strip()
            if not text:
                k -= 1
                continue
            m = SKIP_RE.match(text)
            if m:
                skip = m.group(1).strip()
                k -= 1
                continue
            m = PRELUDE_RE.match(text)
            if m:  # several lines: each adds to the prelude
                prelude = m.group(1).strip() + ("\n" + prelude if prelude else "")
                prelude_line = k + 1
                k -= 1
                continue
            break
        texts = [comment_text(l) for l in lines[i:j]]
        indent = min(len(t) - len(t.lstrip()) for t in texts if t.strip())
        body = [t[indent:] if t.strip() else "" for t in texts]
        blocks.append(Block(path, i + 1, body, skip, prelude, prelude_line))
        i = j
    return blocks, lists


def strip_code(line):
    """The line without string/char literals and // comments (for brace counts)."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//", 1)[0]


def is_declaration(first):
    if DECL_START.match(first):
        return True
    word = re.match(r"^\w+", first)
    if word and word.group(0) in STATEMENT_KEYWORDS:
        return False
    return FUNC_DEF.match(first) is not None


def split_chunks(block):
    """Top-level pieces: list of (is_declaration, first line index, lines)."""
    chunks = []
    current = None
    depth = 0
    pending = []  # comment or empty lines at the top level, before a piece
    for n, line in enumerate(block.lines):
        code = strip_code(line).strip()
        if depth == 0 and current is None:
            if not code:
                pending.append((n, line))
                continue
            start = pending[0][0] if pending else n
            current = [is_declaration(code), start, [l for _, l in pending] + [line]]
            pending = []
        else:
            current[2].append(line)
        depth += code.count("{") + code.count("(") - code.count("}") - code.count(")")
        if depth <= 0 and (code.endswith(";") or code.endswith("}")) and not code.startswith("#"):
            depth = 0
            chunks.append(tuple(current))
            current = None
        elif current is not None and code.startswith("#") and depth <= 0:
            depth = 0
            chunks.append(tuple(current))
            current = None
    if current is not None:
        chunks.append(tuple(current))
    return chunks


def cpp_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def emit(blocks):
    """The translation unit that compiles every non-skipped block."""
    out = ["// Generated by tools/doc_examples.py: the documentation's examples."]
    for h in PRELUDE_HEADERS:
        out.append('#include "%s"' % h)
    includes, bodies = [], []
    for number, b in enumerate(blocks):
        ns = ["namespace doc_example_%d {" % number]
        if b.prelude:
            ns.append("#line %d %s" % (b.prelude_line, cpp_string(b.path)))
            ns.extend(b.prelude.split("\n"))
        statements = []
        for is_decl, start, chunk in split_chunks(b):
            if is_decl and chunk and strip_code(chunk[-1]).strip().startswith("#include") and \
                    all(strip_code(l).strip().startswith("#") or not strip_code(l).strip()
                        for l in chunk):
                for k, l in enumerate(chunk):
                    if l.strip():
                        includes.append("#line %d %s" % (b.line + start + k, cpp_string(b.path)))
                        includes.append(l)
                continue
            target = ns if is_decl else statements
            target.append("#line %d %s" % (b.line + start, cpp_string(b.path)))
            target.extend(chunk)
        if statements:
            ns.append("[[maybe_unused]] void doc_example_body() {")
            ns.extend(statements)
            ns.append("}")
        ns.append("}  // namespace doc_example_%d" % number)
        bodies.extend(ns)
    return "\n".join(out + includes + bodies) + "\n"


def reached_headers(root, start):
    """The repository headers that `start` reaches through its #includes."""
    seen, todo = set(), [start]
    while todo:
        h = todo.pop()
        if h in seen or not os.path.exists(os.path.join(root, h)):
            continue
        seen.add(h)
        for line in open(os.path.join(root, h), encoding="utf-8"):
            m = re.match(r'^\s*#\s*include\s+"([^"]+)"', line)
            if m:
                todo.append(m.group(1))
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=".")
    parser.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    parser.add_argument("--keep", help="also write the translation unit to this path")
    args = parser.parse_args()
    root = args.root

    problems = []
    # gevent.h: "everything in one include".
    public = sorted(h for h in glob.glob(os.path.join(root, "runtime", "*.h")))
    public = [os.path.relpath(h, root) for h in public]
    if len(public) < 10:
        print("doc_examples: runtime/ headers not found under %s" % root, file=sys.stderr)
        return 1
    reached = reached_headers(root, "runtime/gevent.h")
    for h in public:
        if h not in reached:
            problems.append("runtime/gevent.h: does not include %s (directly or not)" % h)

    md = ["README.md"] + sorted(os.path.relpath(p, root)
                                for p in glob.glob(os.path.join(root, "docs", "*.md")))
    headers = sorted(os.path.relpath(p, root) for d in HEADER_DIRS
                     for p in glob.glob(os.path.join(root, d, "*.h")))
    all_blocks, rows = [], []
    for path in md + headers:
        if not os.path.exists(os.path.join(root, path)):
            problems.append("%s: not found" % path)
            continue
        try:
            if path.endswith(".md"):
                blocks, other = markdown_blocks(root, path)
                other_what = "non-C++ fences"
            else:
                blocks, other = header_blocks(root, path)
                other_what = "lists"
        except Problem as e:
            problems.append(str(e))
            continue
        for b in blocks:
            if b.skip == "":
                problems.append("%s:%d: 'example: skip' needs a reason" % (b.path, b.line))
        compiled = [b for b in blocks if b.skip is None]
        skipped = [b for b in blocks if b.skip is not None]
        all_blocks.extend(compiled)
        if blocks or other:
            rows.append((path, len(compiled), len(skipped), other, other_what))

    print("%-28s %8s %7s  %s" % ("source", "compiled", "skipped", "not C++ / prose"))
    for path, c, s, o, what in rows:
        print("%-28s %8d %7d  %d %s" % (path, c, s, o, what if o else ""))
    total_c = sum(r[1] for r in rows)
    total_s = sum(r[2] for r in rows)
    print("total: %d compiled, %d skipped (marked)" % (total_c, total_s))

    unit = emit(all_blocks)
    if args.keep:
        with open(args.keep, "w", encoding="utf-8") as f:
            f.write(unit)
    with tempfile.NamedTemporaryFile("w", suffix=".cc", delete=False, encoding="utf-8") as f:
        f.write(unit)
        tu = f.name
    try:
        cmd = [args.cxx, "-std=c++17", "-fsyntax-only", "-fdiagnostics-color=never",
               "-I", os.path.abspath(root), tu]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True)
    finally:
        os.unlink(tu)
    if result.returncode != 0:
        print(result.stdout, file=sys.stderr)
        problems.append("some examples do not compile (the errors above name the "
                        "document and line)")
    for p in problems:
        print("doc_examples: " + p, file=sys.stderr)
    if problems:
        return 1
    print("doc_examples: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
