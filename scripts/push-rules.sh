#!/usr/bin/env bash
# Pushes a downtime-responder plugin configuration to a running Envoy through
# file-based ECDS: wraps the configuration in an ECDS resource, writes it next
# to the watched resource, then renames it into place. A rename within one
# directory is atomic, so Envoy reads either the old resource or the new one,
# never a partial file, and the rename is the event that makes Envoy reload.
#
# Usage: scripts/push-rules.sh [options] CONFIG.json
#   --dir DIR        directory that Envoy watches (default: envoy/ecds/resources)
#   --module PATH    wasm module path as Envoy should open it
#                    (default: target/wasm32-wasip1/release/downtime_responder.wasm)
#   --no-check       skip `downtime-responder check` before pushing
#
# The configuration is checked with `downtime-responder check` first, found in
# $DOWNTIME_RESPONDER_BIN, on PATH, or in target/{release,debug}. Envoy
# validates it again and keeps the previous rules if it is invalid, so the
# check here only reports the error earlier, with every JSON path at once.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
resource_dir="$repo_root/envoy/ecds/resources"
module="target/wasm32-wasip1/release/downtime_responder.wasm"
check=true
# The HTTP filter name in the Envoy configuration, which is also the ECDS
# resource name and the file name.
filter_name="downtime_responder"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

fail() {
    echo "push-rules: error: $*" >&2
    exit 1
}

config=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) [[ $# -ge 2 ]] || usage; resource_dir="$2"; shift 2 ;;
        --module) [[ $# -ge 2 ]] || usage; module="$2"; shift 2 ;;
        --no-check) check=false; shift ;;
        -h | --help) usage ;;
        -*) echo "push-rules: unknown option $1" >&2; usage ;;
        *) [[ -z "$config" ]] || usage; config="$1"; shift ;;
    esac
done
[[ -n "$config" ]] || usage
[[ -f "$config" ]] || fail "configuration file $config not found"
[[ -d "$resource_dir" ]] || fail "resource directory $resource_dir not found"

find_checker() {
    if [[ -n "${DOWNTIME_RESPONDER_BIN:-}" ]]; then
        echo "$DOWNTIME_RESPONDER_BIN"
    elif command -v downtime-responder >/dev/null 2>&1; then
        command -v downtime-responder
    elif [[ -x "$repo_root/target/release/downtime-responder" ]]; then
        echo "$repo_root/target/release/downtime-responder"
    elif [[ -x "$repo_root/target/debug/downtime-responder" ]]; then
        echo "$repo_root/target/debug/downtime-responder"
    fi
}

if [[ "$check" == true ]]; then
    checker=$(find_checker)
    [[ -n "$checker" ]] || fail "downtime-responder not found; build it with 'cargo build --release', set DOWNTIME_RESPONDER_BIN, or pass --no-check"
    if ! "$checker" check "$config" >&2; then
        fail "$config is invalid; nothing was pushed"
    fi
fi

# The temporary file must be in the same directory as the target, because
# only a rename within one file system is atomic.
target="$resource_dir/$filter_name.yaml"
temporary=$(mktemp "$resource_dir/.$filter_name.yaml.XXXXXX")
trap 'rm -f "$temporary"' EXIT

python3 - "$config" "$filter_name" "$module" >"$temporary" <<'PY'
import hashlib
import json
import sys

config_path, filter_name, module = sys.argv[1:4]
with open(config_path, "rb") as config_file:
    raw = config_file.read()
try:
    configuration = raw.decode("utf-8")
except UnicodeDecodeError as error:
    sys.exit(f"push-rules: error: {config_path} is not UTF-8: {error}")

# JSON is valid YAML, so the resource is written as JSON with a .yaml name.
resource = {
    "version_info": hashlib.sha256(raw).hexdigest()[:16],
    "resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": filter_name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": filter_name,
                "root_id": "downtime_responder",
                "vm_config": {
                    "vm_id": "downtime_responder",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": module}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": configuration,
                },
            },
        },
    }],
}
json.dump(resource, sys.stdout, indent=2)
sys.stdout.write("\n")
PY

chmod 0644 "$temporary"
version=$(sed -n 's/.*"version_info": "\(.*\)".*/\1/p' "$temporary")
echo "push-rules: moving $config into place as $target (version $version)" >&2
# The rename is the last step, so the script ends as Envoy starts reloading.
mv -f "$temporary" "$target"
trap - EXIT
