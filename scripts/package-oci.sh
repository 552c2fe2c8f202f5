#!/usr/bin/env bash
# Packages the proxy-wasm module as an OCI image that Istio's WasmPlugin can
# pull, and pushes it to DESTINATION.
#
# Usage: scripts/package-oci.sh [--wasm FILE] [--tls-verify=false]
#                               [--digest-file FILE] DESTINATION
#
# DESTINATION is an image reference with its transport, as buildah-push(1)
# takes it, for example:
#   docker://registry.example.net/platform/downtime-responder:0.1.0
#   oci:/tmp/layout:0.1.0          (an OCI image layout directory)
#   oci-archive:/tmp/image.tar     (the same layout as a tar file)
#
# Without --wasm the script builds the module with scripts/build.sh first.
# --tls-verify=false allows a registry that serves plain HTTP, such as one on
# loopback for testing. --digest-file writes the manifest digest
# (sha256:...) to FILE. Registry credentials come from `buildah login` or
# `skopeo login`, or from the auth file that REGISTRY_AUTH_FILE names.
#
# The image follows the "compat" variant of the Wasm OCI image specification
# (github.com/solo-io/wasm, spec/spec-compat.md): an ordinary OCI image with
# one application/vnd.oci.image.layer.v1.tar+gzip layer holding plugin.wasm,
# and the manifest annotation module.wasm.image/variant=compat. Istio's image
# fetcher (pkg/wasm/imagefetcher.go) tries this variant first. It was chosen
# over the artifact variant (media type
# application/vnd.module.wasm.content.layer.v1+wasm) because every registry
# stores and mirrors ordinary image layers and the standard tools build it,
# while some registries reject unknown artifact media types, and Istio's
# fetcher expects the artifact variant to have exactly two layers.
#
# The image is reproducible: the layer's file times and the image's creation
# time are SOURCE_DATE_EPOCH, or the commit time of HEAD when that is unset,
# so the same module always gets the same digest.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() {
    echo "package-oci: $*" >&2
}

usage() {
    sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

wasm_file=""
tls_verify=true
digest_file=""
destination=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --wasm)
            wasm_file="${2:?--wasm needs a file}"
            shift 2
            ;;
        --tls-verify=false)
            tls_verify=false
            shift
            ;;
        --digest-file)
            digest_file="${2:?--digest-file needs a file}"
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            log "error: unknown option $1"
            usage
            exit 2
            ;;
        *)
            if [[ -n "$destination" ]]; then
                log "error: more than one destination: $destination and $1"
                exit 2
            fi
            destination="$1"
            shift
            ;;
    esac
done
if [[ -z "$destination" ]]; then
    log "error: missing DESTINATION"
    usage
    exit 2
fi

if [[ -z "$wasm_file" ]]; then
    "$repo_root/scripts/build.sh"
    wasm_file="$repo_root/target/wasm32-wasip1/release/downtime_responder.wasm"
fi
if [[ ! -f "$wasm_file" ]]; then
    log "error: wasm module $wasm_file not found"
    exit 1
fi
# Every WebAssembly binary module starts with the bytes \0asm.
if [[ "$(head -c 4 "$wasm_file" | od -An -c | tr -d ' ')" != '\0asm' ]]; then
    log "error: $wasm_file is not a WebAssembly binary module (it does not start with \\0asm)"
    exit 1
fi

if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
    SOURCE_DATE_EPOCH=$(git -C "$repo_root" log -1 --format=%ct 2>/dev/null || echo 0)
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo_root/Cargo.toml" | head -n 1)

# A private image store in a temporary directory keeps the build away from the
# machine's own containers storage. The vfs driver needs no kernel overlay
# support, and an image of one small file does not need what overlay saves.
work_dir=$(mktemp -d)
cleanup() {
    rm -rf "$work_dir"
}
trap cleanup EXIT
buildah_in_store=(buildah --root "$work_dir/storage" --runroot "$work_dir/run" --storage-driver vfs)

container=$("${buildah_in_store[@]}" from --quiet scratch)

# Exactly one `copy`, because each one adds a layer and the compat variant
# allows one layer.
"${buildah_in_store[@]}" copy --quiet --chown 0:0 --chmod 0444 \
    "$container" "$wasm_file" /plugin.wasm >/dev/null

"${buildah_in_store[@]}" config \
    --annotation "module.wasm.image/variant=compat" \
    --annotation "org.opencontainers.image.title=downtime-responder" \
    --annotation "org.opencontainers.image.version=$version" \
    "$container"

image="localhost/downtime-responder:build"
"${buildah_in_store[@]}" commit --quiet --rm --format oci \
    --timestamp "$SOURCE_DATE_EPOCH" --identity-label=false --omit-history \
    "$container" "$image" >/dev/null

pushed_digest_file="$work_dir/digest"
"${buildah_in_store[@]}" push --quiet --format oci --compression-format gzip \
    --tls-verify="$tls_verify" --digestfile "$pushed_digest_file" \
    "$image" "$destination"

digest=$(cat "$pushed_digest_file")
if [[ -n "$digest_file" ]]; then
    printf '%s\n' "$digest" >"$digest_file"
fi
log "pushed $wasm_file ($(wc -c <"$wasm_file") bytes) to $destination"
log "manifest digest: $digest"
echo "$digest"
