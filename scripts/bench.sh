#!/usr/bin/env bash
# Benchmarks the filter inside Envoy against Envoy's own direct_response, on
# loopback, and prints a Markdown report (also written to
# target/bench/report.md). In one run it measures:
#
#   a. direct_response on the webhook path, the filter chain without the plugin
#   b. the filter with 10 rules
#   c. the filter with 100,000 site rules and 1,000 recurring rules
#   d. a path that is not the webhook, to an upstream, with and without the
#      plugin in the chain, and with the plugin disabled on that route
#
# with wrk, the same Envoy binary, concurrency and request body for every case,
# in interleaved rounds so that load from other programs spreads over all
# cases. It also measures the time from pushing 100,000 rules over ECDS to
# the first response that uses them, Envoy's resident memory with no rules and
# with 100,000 rules, the .wasm size, and the host benchmarks
# (cargo bench --bench decide).
#
# Every server listens on 127.0.0.1 on a port the kernel picks. The script
# first installs and builds what it needs (wrk from the Debian archive with
# apt-get when it is missing), then measures. The measuring part stops itself
# after BENCH_MAX_SECONDS, and stops every process it started and removes its
# temporary directory however it ends.
#
# Settings (environment variables):
#   BENCH_DURATION     seconds per measured wrk run (default 5)
#   BENCH_WARMUP       seconds of unmeasured load before each run (default 1)
#   BENCH_ROUNDS       rounds over all cases; the report gives medians (default 3)
#   BENCH_CONNECTIONS  connections of the saturating load (default 16)
#   BENCH_CONCURRENCY  Envoy worker threads (default 1)
#   BENCH_MAX_SECONDS  upper bound on the measuring part (default 600)
#   BENCH_SKIP_CARGO_BENCH=1  skip the host benchmarks
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

duration=${BENCH_DURATION:-5}
warmup=${BENCH_WARMUP:-1}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-16}
concurrency=${BENCH_CONCURRENCY:-1}
max_seconds=${BENCH_MAX_SECONDS:-600}

envoy_binary="$repo_root/.tools/bin/envoy"
wasm_file="$repo_root/target/wasm32-wasip1/release/downtime_responder.wasm"
cli_binary="$repo_root/target/release/downtime-responder"
generator="$repo_root/bench/generate.py"
report_dir="$repo_root/target/bench"
webhook_path="/jetpack/monitor?token=bench-token"
pass_through_path="/app/page"
ready_timeout_seconds=120
stop_timeout_seconds=10
# Each Envoy also runs under timeout(1), in case this script is killed with
# SIGKILL and its cleanup never runs.
envoy_max_seconds=$((max_seconds + 60))
log_format='[%Y-%m-%d %T.%f][%t][%l][%n] %v'

log() {
    echo "bench: $*" >&2
}

fail() {
    log "error: $*"
    exit 1
}

install_wrk() {
    if command -v wrk >/dev/null 2>&1; then
        return 0
    fi

    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || fail "wrk is missing; install the Debian package wrk (apt-get install wrk)"
        sudo=(sudo -n)
    fi
    log "installing wrk from the Debian archive"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >&2; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >&2
    fi
}

# Build first, then bound the measuring part: the script restarts itself
# under timeout(1), whose SIGTERM runs the cleanup below.
if [[ -z "${BENCH_MEASURING:-}" ]]; then
    scripts/setup.sh
    install_wrk
    scripts/build.sh
    cargo build --release --bin downtime-responder
    if [[ "${BENCH_SKIP_CARGO_BENCH:-}" != 1 ]]; then
        cargo bench --bench decide --no-run
    fi
    export BENCH_MEASURING=1
    exec timeout --signal=TERM --kill-after=30 "$max_seconds" "$0" "$@"
fi

work_dir=$(mktemp -d -t downtime-responder-bench.XXXXXX)
results="$work_dir/results.txt"
declare -A timeout_pids=()
declare -A envoy_pids=()
declare -A admin_addresses=()
declare -A listener_ports=()

stop_envoy() {
    local name="$1"
    local pid="${timeout_pids[$name]:-}"
    if [[ -z "$pid" ]]; then
        return 0
    fi
    unset "timeout_pids[$name]"

    local envoy_pid="${envoy_pids[$name]:-}"
    if [[ -n "$envoy_pid" ]] && kill -0 "$envoy_pid" 2>/dev/null; then
        kill -TERM "$envoy_pid" 2>/dev/null || true
    fi
    local waited
    for ((waited = 0; waited < stop_timeout_seconds * 10; waited++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "envoy $name did not stop within $stop_timeout_seconds s; killing it"
        [[ -n "$envoy_pid" ]] && kill -KILL "$envoy_pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local name
    for name in "${!timeout_pids[@]}"; do
        stop_envoy "$name"
    done
    rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_envoy_log() {
    local name="$1"
    echo "--- envoy $name log ---" >&2
    grep -v ' envoy\.\| config: ' "$work_dir/$name.log" | tail -n 30 >&2 || true
}

record() {
    echo "$*" >>"$results"
}

now_ms() {
    date +%s%3N
}

# Starts an Envoy and waits until its admin interface reports LIVE.
# Arguments: name, bootstrap file, concurrency, extra Envoy arguments.
start_envoy() {
    local name="$1"
    local bootstrap="$2"
    local workers="$3"
    shift 3

    local admin_file="$work_dir/$name.admin"
    timeout --signal=TERM --kill-after=5 "$envoy_max_seconds" "$envoy_binary" \
        -c "$bootstrap" \
        --concurrency "$workers" \
        --use-dynamic-base-id \
        --admin-address-path "$admin_file" \
        --log-format "$log_format" \
        "$@" \
        >"$work_dir/$name.log" 2>&1 </dev/null &
    timeout_pids[$name]=$!

    local attempt
    for ((attempt = 0; attempt < ready_timeout_seconds * 20; attempt++)); do
        if ! kill -0 "${timeout_pids[$name]}" 2>/dev/null; then
            show_envoy_log "$name"
            fail "envoy $name exited during startup"
        fi
        if [[ -s "$admin_file" ]] &&
            [[ "$(curl -s --max-time 1 "http://$(cat "$admin_file")/ready" 2>/dev/null || true)" == "LIVE" ]]; then
            break
        fi
        sleep 0.05
    done
    if [[ ! -s "$admin_file" ]] ||
        [[ "$(curl -s --max-time 1 "http://$(cat "$admin_file")/ready" 2>/dev/null || true)" != "LIVE" ]]; then
        show_envoy_log "$name"
        fail "envoy $name was not ready within $ready_timeout_seconds s"
    fi

    envoy_pids[$name]=$(pgrep -P "${timeout_pids[$name]}" | head -n 1)
    admin_addresses[$name]=$(cat "$admin_file")
    listener_ports[$name]=$(curl -s --max-time 5 "http://${admin_addresses[$name]}/listeners?format=json" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["listener_statuses"][0]["local_address"]["socket_address"]["port_value"])')
    log "envoy $name: pid ${envoy_pids[$name]}, listener 127.0.0.1:${listener_ports[$name]}, $workers worker(s)"
}

# Sends the benchmark notification once and prints "STATUS BODY".
send_once() {
    local name="$1"
    local path="$2"
    local body_file="${3:-$work_dir/notification.json}"
    curl -s --max-time 5 -o "$work_dir/response.txt" -w '%{http_code}' \
        -H 'content-type: application/json' --data-binary "@$body_file" \
        "http://127.0.0.1:${listener_ports[$name]}$path" || true
    printf ' %s\n' "$(cat "$work_dir/response.txt" 2>/dev/null || true)"
}

# Fails unless the response matches an extended regular expression.
expect_response() {
    local name="$1"
    local path="$2"
    local pattern="$3"
    local response
    response=$(send_once "$name" "$path")
    if ! grep -Eqx "$pattern" <<<"$response"; then
        show_envoy_log "$name"
        fail "envoy $name returned '$response' on $path; expected /$pattern/"
    fi
    log "envoy $name on $path: $response"
}

# Polls until the response matches, then prints the milliseconds since `started_ms`.
wait_for_response() {
    local name="$1"
    local pattern="$2"
    local started_ms="$3"
    local attempt
    for ((attempt = 0; attempt < ready_timeout_seconds * 100; attempt++)); do
        if grep -Eqx "$pattern" <<<"$(send_once "$name" "$webhook_path")"; then
            echo $(($(now_ms) - started_ms))
            return 0
        fi
        sleep 0.01
    done
    fail "envoy $name never responded with /$pattern/"
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/${envoy_pids[$1]}/status"
}

configured_lines() {
    grep -c "configured: $2 rules" "$work_dir/$1.log" || true
}

# Runs wrk once and records its RESULT line. Arguments: case, shape, round,
# connections, Envoy name, path, seconds.
run_wrk() {
    local case_name="$1"
    local shape="$2"
    local round="$3"
    local wrk_connections="$4"
    local name="$5"
    local path="$6"
    local seconds="$7"
    local output
    output=$(wrk -t1 -c"$wrk_connections" -d"${seconds}s" --timeout 2s --latency \
        -s "$work_dir/request.lua" "http://127.0.0.1:${listener_ports[$name]}$path")
    local line
    line=$(grep '^RESULT ' <<<"$output") || fail "wrk printed no result for case $case_name: $output"
    if [[ "$round" != warmup ]]; then
        record "wrk case=$case_name shape=$shape round=$round connections=$wrk_connections ${line#RESULT }"
    fi
}

log "generating rules and Envoy configurations in $work_dir"
python3 "$generator" body >"$work_dir/notification.json"
python3 "$generator" probe >"$work_dir/probe.json"
python3 "$generator" wrk --out "$work_dir/request.lua"
python3 "$generator" rules --site-rules 0 --recurring-rules 0 --out "$work_dir/rules-0.json"
python3 "$generator" rules --site-rules 9 --recurring-rules 1 --out "$work_dir/rules-10.json"
python3 "$generator" rules --site-rules 100000 --recurring-rules 1000 --out "$work_dir/rules-100k.json"
record "metric name=config_bytes_100k value=$(wc -c <"$work_dir/rules-100k.json")"
record "metric name=wasm_bytes value=$(wc -c <"$wasm_file")"

log "checking the 100,000-rule configuration with the host CLI (3 runs)"
for run in 1 2 3; do
    started=$(now_ms)
    "$cli_binary" check "$work_dir/rules-100k.json" >&2
    record "metric name=cli_check_ms value=$(($(now_ms) - started)) run=$run"
done

python3 "$generator" envoy --kind upstream --out "$work_dir/upstream.json"
start_envoy upstream "$work_dir/upstream.json" 1
upstream_port=${listener_ports[upstream]}
python3 "$generator" envoy --kind baseline --upstream-port "$upstream_port" --out "$work_dir/baseline.json"
for rules in 0 10 100k; do
    python3 "$generator" envoy --kind filter --upstream-port "$upstream_port" --module "$wasm_file" \
        --rules "$work_dir/rules-$rules.json" --out "$work_dir/filter-$rules.json"
done
python3 "$generator" envoy --kind filter --upstream-port "$upstream_port" --module "$wasm_file" \
    --rules "$work_dir/rules-10.json" --plugin-off-elsewhere --out "$work_dir/filter-route-off.json"

timestamp_pattern='200 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'

# Startup and memory: one Envoy at a time, so each starts on an idle machine
# (apart from other users). The 0- and 100k-rule Envoys at the benchmark
# concurrency stay up for the load runs; the others stop after measuring.
measure_memory() {
    local name="$1"
    local rules="$2"
    local workers="$3"
    local rule_count="$4"
    local started
    started=$(now_ms)
    start_envoy "$name" "$work_dir/filter-$rules.json" "$workers"
    local ready_ms
    ready_ms=$(wait_for_response "$name" "$timestamp_pattern|200 ok" "$started")
    # A few requests, so that every lazily created part of the request path exists.
    local request
    for request in 1 2 3 4 5 6 7 8; do
        send_once "$name" "$webhook_path" >/dev/null
    done
    sleep 1
    record "memory rules=$rules workers=$workers rss_kib=$(rss_kib "$name") startup_to_response_ms=$ready_ms configured_vms=$(configured_lines "$name" "$rule_count")"
}

log "measuring startup and memory"
measure_memory filter-0 0 "$concurrency" 0
measure_memory filter-100k 100k "$concurrency" 101000
measure_memory filter-0-more 0 $((concurrency + 1)) 0
stop_envoy filter-0-more
measure_memory filter-100k-more 100k $((concurrency + 1)) 101000
stop_envoy filter-100k-more

start_envoy baseline "$work_dir/baseline.json" "$concurrency"
start_envoy filter-10 "$work_dir/filter-10.json" "$concurrency"
start_envoy filter-route-off "$work_dir/filter-route-off.json" "$concurrency"

log "checking every case's response"
expect_response baseline "$webhook_path" '200 2026-12-05T03:00:00Z'
expect_response filter-10 "$webhook_path" "$timestamp_pattern"
expect_response filter-100k "$webhook_path" "$timestamp_pattern"
expect_response filter-100k "$pass_through_path" '200 upstream'
expect_response baseline "$pass_through_path" '200 upstream'
expect_response filter-route-off "$pass_through_path" '200 upstream'
expect_response filter-route-off "$webhook_path" "$timestamp_pattern"
expect_response filter-0 "$webhook_path" '200 ok'

# case name, Envoy, path
cases=(
    "a baseline $webhook_path"
    "b filter-10 $webhook_path"
    "c filter-100k $webhook_path"
    "d_with filter-100k $pass_through_path"
    "d_without baseline $pass_through_path"
    "d_route_off filter-route-off $pass_through_path"
)
# shape name, connections
shapes=(
    "saturated $connections"
    "one_connection 1"
)
total_runs=$((rounds * ${#cases[@]} * ${#shapes[@]}))
log "load: $total_runs runs of ${duration} s after ${warmup} s of warm-up each, Envoy --concurrency $concurrency, wrk -t1"
for ((round = 1; round <= rounds; round++)); do
    for shape_entry in "${shapes[@]}"; do
        read -r shape shape_connections <<<"$shape_entry"
        for case_entry in "${cases[@]}"; do
            read -r case_name name path <<<"$case_entry"
            run_wrk "$case_name" "$shape" warmup "$shape_connections" "$name" "$path" "$warmup"
            run_wrk "$case_name" "$shape" "$round" "$shape_connections" "$name" "$path" "$duration"
        done
    done
    log "round $round of $rounds done"
done
record "memory_after_load rules=100k workers=$concurrency rss_kib=$(rss_kib filter-100k)"
record "memory_after_load rules=0 workers=$concurrency rss_kib=$(rss_kib filter-0)"

for name in baseline filter-10 filter-route-off filter-100k filter-0; do
    stop_envoy "$name"
done

# Reconfiguration over ECDS from a file: Envoy reloads the file when another
# file is moved onto its path. The binary protobuf form is what a control
# plane sends over gRPC; the JSON form adds Envoy's JSON parsing.
measure_reconfiguration() {
    local format="$1"
    local name="ecds-$format"
    local ecds_dir="$work_dir/$name"
    mkdir -p "$ecds_dir"
    python3 "$generator" ecds --module "$wasm_file" --rules "$work_dir/rules-0.json" --version empty \
        --out "$ecds_dir/filter.$format"
    python3 "$generator" ecds --module "$wasm_file" --rules "$work_dir/rules-100k.json" --version large \
        --out "$ecds_dir/next.$format"
    python3 "$generator" envoy --kind ecds --upstream-port "$upstream_port" \
        --ecds-path "$ecds_dir/filter.$format" --out "$work_dir/$name-bootstrap.json"

    # Envoy logs the creation of each wasm VM at debug level, and those lines
    # give the start of each VM's configuration.
    start_envoy "$name" "$work_dir/$name-bootstrap.json" "$concurrency" --component-log-level wasm:debug
    wait_for_response "$name" '200 ok' "$(now_ms)" >/dev/null
    local line
    line=$(python3 "$repo_root/bench/reconfigure.py" --port "${listener_ports[$name]}" --path "$webhook_path" \
        --probe "$work_dir/probe.json" --next "$ecds_dir/next.$format" --target "$ecds_dir/filter.$format" \
        --timeout "$ready_timeout_seconds")
    sleep 1
    record "reconfigure format=$format workers=$concurrency $line"
    python3 "$repo_root/bench/report.py" vm-timings --log "$work_dir/$name.log" --after "${line#pushed_unix=}" \
        --rules 101000 | while read -r timing; do
        record "vm_configure format=$format $timing"
    done
    stop_envoy "$name"
}

log "measuring reconfiguration over ECDS"
measure_reconfiguration pb
measure_reconfiguration json
stop_envoy upstream

if [[ "${BENCH_SKIP_CARGO_BENCH:-}" != 1 ]]; then
    log "running the host benchmarks: cargo bench --bench decide"
    cargo bench --bench decide 2>&1 | tee "$work_dir/criterion.txt" >&2
    python3 "$repo_root/bench/report.py" criterion --output "$work_dir/criterion.txt" | while read -r line; do
        record "$line"
    done
fi

mkdir -p "$report_dir"
python3 "$repo_root/bench/report.py" markdown --results "$results" \
    --command "scripts/bench.sh" \
    --settings "duration=${duration}s warmup=${warmup}s rounds=$rounds connections=$connections concurrency=$concurrency" \
    --envoy-version "$("$envoy_binary" --version | grep -o 'version: [^ ]*' | head -n 1)" \
    >"$report_dir/report.md"
cp "$results" "$report_dir/results.txt"
cat "$report_dir/report.md"
log "report written to $report_dir/report.md"
