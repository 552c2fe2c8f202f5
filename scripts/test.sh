#!/usr/bin/env bash
# Runs every check the project has: setup, the wasm build, formatting, clippy
# for the host and for wasm32-wasip1, then `cargo test`, which runs the host
# unit tests and the tests against a real Envoy in tests/. Stops at the first
# failure and exits non-zero.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

step() {
    echo "==> $*" >&2
}

step "setup"
scripts/setup.sh

step "build the wasm module"
scripts/build.sh

step "cargo fmt --check"
cargo fmt --check

step "clippy (host)"
cargo clippy --all-targets -- -D warnings

step "clippy (wasm32-wasip1)"
cargo clippy --target wasm32-wasip1 --lib -- -D warnings

step "setup for the Istio tests"
scripts/setup-istio-tools.sh

# Fuzzing runs before the tests, so the test summary is the last output.
# The fuzz run takes a few minutes, so a local run skips it unless
# FUZZ_SECONDS asks for it. CI runs each target for 60 s.
if [[ "${CI:-}" == "true" || -n "${FUZZ_SECONDS:-}" ]]; then
    step "fuzz each target for ${FUZZ_SECONDS:-60} s"
    scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
fi

step "cargo test"
test_log=$(mktemp)
trap 'rm -f "$test_log"' EXIT
test_status=0
ENVOY_BIN="${ENVOY_BIN:-$repo_root/.tools/bin/envoy}" cargo test 2>&1 | tee "$test_log" || test_status=$?

# One closing line for every test binary together, so the summary a reader
# (or CI) sees last counts all tests rather than the last binary's.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$test_log"
exit "$test_status"
