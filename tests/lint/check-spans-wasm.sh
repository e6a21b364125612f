#!/usr/bin/env bash
# image.mjs embeds the span encoder's wasm as hex; its source is
# wasm/runtime/spans.wat. Checks that the hex is what binaryen's wasm-as
# (Debian's binaryen, which emscripten brings) makes of the source.
set -euo pipefail
if ! command -v wasm-as >/dev/null; then
  echo "wasm-as (binaryen) not found: skipped"
  exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
wasm-as wasm/runtime/spans.wat -o "$out"
want=$(od -An -v -tx1 "$out" | tr -d ' \n')
have=$(sed -n '/^const SPANS_WASM = Buffer.from(/,/"hex",/p' wasm/runtime/image.mjs |
  grep -o '"[0-9a-f]*"' | grep -v '"hex"' | tr -d '"\n')
if [ "$want" != "$have" ]; then
  echo "wasm/runtime/image.mjs's SPANS_WASM is not wasm/runtime/spans.wat assembled:"
  echo "  wasm-as gives $want"
  exit 1
fi
echo "SPANS_WASM matches spans.wat"
