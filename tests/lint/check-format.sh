#!/usr/bin/env bash
# The C sources are in their .clang-format style (jansson's format check):
#   tests/lint/check-format.sh           list the files out of style, fail
#   tests/lint/check-format.sh --fix     reformat them in place
# dynscope (wasm/dynscope/src) follows wasm/dynscope/.clang-format (PEP 7);
# server/ and the C under tests/ follow server/.clang-format.
#
# clang-format 14 (Debian bookworm's, docker/install-deps.sh test): other
# versions lay some lines out differently, so without it the check is
# skipped (exit 77, which ctest reports as skipped) and says why.
set -euo pipefail
here=${BASH_SOURCE[0]%/*}
repo=$(cd "$here/../.." && pwd)
cd "$repo"

skip() {
  echo "check-format: skipped: $*"
  exit 77
}

# $CLANG_FORMAT names another binary to try first.
cf=
for c in ${CLANG_FORMAT:-} clang-format-14 clang-format; do
  if command -v "$c" >/dev/null; then cf=$(command -v "$c"); break; fi
done
[ -n "$cf" ] || skip "clang-format is not installed (docker/install-deps.sh test installs Debian's)"
version=$("$cf" --version | sed -n 's/.*clang-format version \([0-9]*\)\..*/\1/p')
[ "$version" = 14 ] || skip "$cf is version ${version:-unknown}; the style is checked with clang-format 14"

# {style file} {files...} pairs, one group per line.
groups=(
  "wasm/dynscope/.clang-format $(echo wasm/dynscope/src/*.[ch])"
  "server/.clang-format $(echo server/*.[ch]) $(echo wasm/dirty/*.c) $(find tests -name '*.[ch]' -not -path '*/corpus/*' | sort | tr '\n' ' ')"
)

fix=0
[ "${1:-}" = --fix ] && fix=1
bad=0
for g in "${groups[@]}"; do
  read -r style files <<<"$g"
  for f in $files; do
    if [ $fix = 1 ]; then
      "$cf" --style="file:$style" -i "$f"
    elif ! "$cf" --style="file:$style" "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - >&2; then
      bad=$((bad + 1))
    fi
  done
done
if [ $bad -gt 0 ]; then
  echo "check-format: $bad file(s) out of style; tests/lint/check-format.sh --fix reformats them" >&2
  exit 1
fi
[ $fix = 1 ] || echo "check-format: every file in style"
