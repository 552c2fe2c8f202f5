#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one
# after another, starting from the checked-in seeds in fuzz/seeds/TARGET and
# the corpus that earlier runs left in fuzz/corpus/TARGET. Prints the number
# of executions per target and exits non-zero if any target found a crash,
# which cargo-fuzz saves under fuzz/artifacts/TARGET.
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 3600       # an hour per target
#
# cargo-fuzz needs a nightly compiler for its sanitizer flags. Without a
# nightly toolchain the script uses the stable one with RUSTC_BOOTSTRAP=1,
# which lets stable rustc accept those flags.
set -euo pipefail

seconds="${1:-60}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz: error: SECONDS must be a positive whole number, got '$seconds'" >&2
    exit 2
fi

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir="$repo_root/fuzz"
# A single input slower than this is reported as a crash (a timeout).
input_timeout_seconds=10

log() {
    echo "fuzz: $*" >&2
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cargo_command=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo_command=(cargo +nightly)
else
    log "no nightly toolchain; using the stable one with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
fi

cd "$fuzz_dir"
log "building the fuzz targets"
"${cargo_command[@]}" fuzz build

mapfile -t targets < <("${cargo_command[@]}" fuzz list)
if [[ ${#targets[@]} -eq 0 ]]; then
    log "error: cargo fuzz list found no targets in $fuzz_dir"
    exit 1
fi

summary=()
failed=()
for target in "${targets[@]}"; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    run_log=$(mktemp)
    log "running $target for $seconds s"

    status=0
    "${cargo_command[@]}" fuzz run "$target" "$corpus" "seeds/$target" -- \
        -max_total_time="$seconds" \
        -timeout="$input_timeout_seconds" \
        -dict=json.dict \
        -print_final_stats=1 \
        >"$run_log" 2>&1 || status=$?

    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run_log" | tail -n 1)
    corpus_size=$(find "$corpus" -type f | wc -l)
    if [[ $status -eq 0 ]]; then
        summary+=("$target: ${executions:-?} executions, no crash, corpus of $corpus_size inputs")
    else
        failed+=("$target")
        summary+=("$target: FAILED with exit status $status after ${executions:-?} executions")
        echo "--- last lines of the $target run ---" >&2
        tail -n 40 "$run_log" >&2
        echo "--- end of the $target run ---" >&2
    fi
    rm -f "$run_log"
done

log "summary ($seconds s per target):"
for line in "${summary[@]}"; do
    log "  $line"
done
if [[ ${#failed[@]} -gt 0 ]]; then
    log "error: crashes or timeouts in: ${failed[*]}; inputs are in fuzz/artifacts/"
    exit 1
fi
