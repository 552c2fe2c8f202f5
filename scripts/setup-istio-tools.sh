#!/usr/bin/env bash
# Installs the Debian packages that the Istio packaging and its tests need:
# buildah (builds the OCI image of the wasm module), skopeo (copies and
# inspects images) and docker-registry (the registry that tests/istio.rs starts
# on loopback). When all three commands are present it exits at once, so
# running it again is cheap.
set -euo pipefail

packages=(buildah skopeo docker-registry)

log() {
    echo "setup-istio-tools: $*" >&2
}

missing_packages() {
    local package
    for package in "${packages[@]}"; do
        if ! command -v "$package" >/dev/null 2>&1; then
            echo "$package"
        fi
    done
}

mapfile -t missing < <(missing_packages)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "error: ${missing[*]} missing, and installing them needs root: run this script as root"
    exit 1
fi

# The docker-registry package starts a registry on port 5000 of every
# interface unless policy-rc.d forbids starting services. The tests start their
# own registry on loopback, so a temporary policy-rc.d that exits 101 (the
# "action forbidden" code of invoke-rc.d) keeps the package from starting one.
policy_file=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e "$policy_file" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy_file"
    chmod 755 "$policy_file"
    created_policy=true
fi
remove_policy() {
    if [[ "$created_policy" == true ]]; then
        rm -f "$policy_file"
    fi
}
trap remove_policy EXIT

log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Recommends would bring container runtimes, and packaging runs no container.
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

mapfile -t still_missing < <(missing_packages)
if [[ ${#still_missing[@]} -ne 0 ]]; then
    log "error: apt-get finished but ${still_missing[*]} is still missing"
    exit 1
fi
log "installed: $(buildah --version); $(skopeo --version); $(docker-registry --version)"
