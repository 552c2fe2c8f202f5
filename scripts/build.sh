#!/usr/bin/env bash
# Builds the proxy-wasm module that Envoy loads:
# target/wasm32-wasip1/release/downtime_responder.wasm
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

cargo build --release --target wasm32-wasip1 --lib

wasm_file="target/wasm32-wasip1/release/downtime_responder.wasm"
if [[ ! -f "$wasm_file" ]]; then
    echo "build: error: cargo finished but $wasm_file is missing" >&2
    exit 1
fi
echo "build: $wasm_file ($(wc -c <"$wasm_file") bytes)" >&2
