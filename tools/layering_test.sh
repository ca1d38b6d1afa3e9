#!/usr/bin/env bash
# Fails, naming each offending line, if an #include crosses a layer:
#  - outside runtime/: runtime/internal/ is private to runtime/;
#  - inside runtime/: no sim/, traces/ or testing/ (they build on runtime/);
#  - inside sim/: no traces/ or testing/.
set -u
bad=0
check() {  # <description> <files...> ; reads the pattern from $pattern
  local what="$1"
  shift
  local hits
  hits=$(grep -nE "$pattern" "$@" /dev/null 2>/dev/null)
  if [ -n "$hits" ]; then
    echo "layering: $what:" >&2
    echo "$hits" >&2
    bad=1
  fi
}
mapfile -t outside < <(find bench examples sim testing traces -name '*.h' -o -name '*.cc' 2>/dev/null | sort)
mapfile -t runtime < <(find runtime -name '*.h' -o -name '*.cc' | sort)
mapfile -t sim < <(find sim -name '*.h' -o -name '*.cc' | sort)
[ ${#runtime[@]} -gt 20 ] || { echo "layering: runtime/ sources not found" >&2; exit 1; }
[ ${#outside[@]} -gt 20 ] || { echo "layering: other sources not found" >&2; exit 1; }
pattern='^#include "runtime/internal/'
check "runtime/internal/ included outside runtime/" "${outside[@]}"
# Tests beside the runtime's sources may use the simulator and test helpers.
mapfile -t runtime_lib < <(printf '%s\n' "${runtime[@]}" | grep -vE '_test\.cc$|_bench\.cc$')
pattern='^#include "(sim|traces|testing)/'
check "runtime/ includes a layer above it" "${runtime_lib[@]}"
mapfile -t sim_lib < <(printf '%s\n' "${sim[@]}" | grep -vE '_test\.cc$')
pattern='^#include "(traces|testing)/'
check "sim/ includes a layer above it" "${sim_lib[@]}"
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "layering: ${#runtime[@]} runtime files, ${#outside[@]} others: OK"
