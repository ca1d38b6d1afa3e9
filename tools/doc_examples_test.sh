#!/usr/bin/env bash
# Compiles the C++ examples of the documentation (see doc_examples.py).
# Runs from the runfiles tree, where the documents and headers are.
set -u
exec python3 tools/doc_examples.py --root .
