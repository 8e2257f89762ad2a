#!/usr/bin/env bash
# install-deps.sh: install what building, the demo and the tests need on Debian 12, then the Go modules.
# Installs only missing packages (apt-get needs root); prints what it does. Safe to run again.
set -euo pipefail
packages=(build-essential opensc openssl p11-kit)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then
        export PATH=$PATH:/usr/local/go/bin
    else
        echo "install-deps: Go $(sed -n 's/^go //p' go.mod) or newer is needed (go.mod; https://go.dev/doc/install); none found on PATH" >&2
        exit 1
    fi
fi
go mod download
