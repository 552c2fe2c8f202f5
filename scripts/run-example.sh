#!/usr/bin/env bash
# Starts Envoy with the reference configuration envoy/envoy.yaml on loopback,
# sends two sample Jetpack Monitor notifications to the webhook, prints the
# responses, and stops Envoy. Envoy listens on 127.0.0.1:10000 (the webhook) and
# 127.0.0.1:9901 (admin), so both ports must be free.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

listener="127.0.0.1:10000"
admin="127.0.0.1:9901"
# Must match webhook.token in envoy/envoy.yaml.
token="change-me"
# Upper bound on Envoy's lifetime, in case this script is killed before its
# cleanup runs.
envoy_max_seconds=120
ready_timeout_seconds=30

scripts/setup.sh
scripts/build.sh

work_dir=$(mktemp -d)
envoy_log="$work_dir/envoy.log"
envoy_pid=""

cleanup() {
    if [[ -n "$envoy_pid" ]] && kill -0 "$envoy_pid" 2>/dev/null; then
        kill -TERM "$envoy_pid" 2>/dev/null || true
        wait "$envoy_pid" 2>/dev/null || true
    fi
    rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_envoy_log() {
    echo "--- envoy log ($envoy_log) ---" >&2
    tail -n 50 "$envoy_log" >&2 || true
}

echo "starting envoy on $listener (admin $admin)"
timeout --signal=TERM "$envoy_max_seconds" .tools/bin/envoy \
    -c envoy/envoy.yaml \
    --use-dynamic-base-id \
    --concurrency 1 \
    >"$envoy_log" 2>&1 &
envoy_pid=$!

ready=false
for ((attempt = 0; attempt < ready_timeout_seconds * 10; attempt++)); do
    if ! kill -0 "$envoy_pid" 2>/dev/null; then
        echo "error: envoy exited during startup" >&2
        show_envoy_log
        exit 1
    fi
    if [[ "$(curl -s --max-time 1 "http://$admin/ready" 2>/dev/null || true)" == "LIVE" ]]; then
        ready=true
        break
    fi
    sleep 0.1
done
if [[ "$ready" != true ]]; then
    echo "error: envoy was not ready within $ready_timeout_seconds s" >&2
    show_envoy_log
    exit 1
fi

# Sends one notification and prints the response status and body.
post_notification() {
    local description="$1"
    local payload="$2"

    echo
    echo "$description"
    echo "  request:  POST /jetpack/monitor $payload"
    local answer
    answer=$(curl -sS --max-time 5 \
        -H 'content-type: application/json' \
        --data-binary "$payload" \
        -w '\n%{http_code}' \
        "http://$listener/jetpack/monitor?token=$token")
    local status="${answer##*$'\n'}"
    local body="${answer%$'\n'*}"
    echo "  response: $status $body"
}

# The payload from the Jetpack Monitor documentation, slashes escaped as Monitor
# sends them. No example rule covers example.com, so the answer is `ok`.
post_notification "a site with no maintenance window:" \
    '{"ts":1385139152,"url":"http:\/\/example.com","code":403,"host":"example","type":"http"}'

# The rule archive-read-only covers blog.example.com/archive until 2099, so the
# answer is a timestamp, capped at now + max_suppression_seconds (one day).
post_notification "a site inside an active maintenance window:" \
    "{\"ts\":$(date +%s),\"url\":\"https:\\/\\/blog.example.com\\/archive\\/2019\",\"code\":503,\"host\":\"otherhost\",\"type\":\"http\"}"

echo
echo "the filter's log lines:"
grep -o 'wasm log .*' "$envoy_log" | sed 's/^/  /' || true

echo
echo "stopping envoy"
