#!/usr/bin/env bash
# Project sources follow the checked-in .clang-format.
set -u
: "${ALLOT_SOURCE_DIR:?source tree}"
cd "$ALLOT_SOURCE_DIR"
mapfile -t files < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find compiler runtime tests bench -name '*.cpp' -o -name '*.h')
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done
echo "$(( ${#files[@]} - bad )) passed, $bad failed"
[ "$bad" -eq 0 ]
