#!/usr/bin/env bash
# demo.sh BUILD_DIR: Keyward end to end on a temporary store.
#
# pkcs11-tool loads libkeyward.so, which starts a user-mode keywardd by itself (nothing to set up); a token is
# initialised, a certificate and a data object are stored and listed; the daemon is stopped, started again by
# the next call, and the objects are still there; then the daemon is stopped and the temporary store removed.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-demo.XXXXXX")
export XDG_RUNTIME_DIR=$tmp/run XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
unset KEYWARD_SOCKET KEYWARD_AUTOSTART
pidfile=$XDG_RUNTIME_DIR/keyward/keywardd.pid

stop_daemon() {
    [ -s "$pidfile" ] || return 0
    local pid; pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
    echo "demo: keywardd did not stop" >&2; return 1
}
cleanup() { stop_daemon || true; rm -rf "$tmp"; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
p11() { echo "\$ pkcs11-tool $*" | sed -e "s#$build/##g"; pkcs11-tool --module "$build/libkeyward.so" "$@"; }

SO_PIN=so-secret-1 USER_PIN=user-secret-1
step "1. The first PKCS#11 call starts a per-user keywardd (store under $XDG_DATA_HOME/keyward)"
p11 --show-info
echo "keywardd pid $(cat "$pidfile"), socket $XDG_RUNTIME_DIR/keyward/keyward.sock"

step "2. Initialise a token and its user PIN"
p11 --init-token --slot 0 --label "demo device" --so-pin "$SO_PIN"
p11 --init-pin --token-label "demo device" --so-pin "$SO_PIN" --pin "$USER_PIN"
p11 --list-slots

step "3. Store a certificate and a private data object"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "/CN=demo device/O=Keyward" -days 365 -outform der -out "$tmp/device.der" 2>/dev/null
echo "device serial 0001, provisioned $(date -u +%F)" >"$tmp/device.txt"
p11 --token-label "demo device" --login --pin "$USER_PIN" --write-object "$tmp/device.der" --type cert --id 01 --label "device id"
p11 --token-label "demo device" --login --pin "$USER_PIN" --write-object "$tmp/device.txt" --type data --label "provisioning record" --private

step "4. List them: without login (public objects only), and with the user PIN"
p11 --token-label "demo device" --list-objects
p11 --token-label "demo device" --login --pin "$USER_PIN" --list-objects
echo "\$ keyward list --token 'demo device'   (KEYWARD_PIN set)"
KEYWARD_PIN=$USER_PIN "$build/keyward" list --token "demo device"

step "5. A device identity key that never leaves the token: generate it, make a CSR, sign with it"
echo "\$ keyward key generate --type ec:p256 --label 'device key' --id 02 --token 'demo device'"
uri=$(KEYWARD_PIN=$USER_PIN "$build/keyward" key generate --type ec:p256 --label "device key" --id 02 --token "demo device")
echo "$uri"
echo "\$ keyward csr '$uri' --subject 'CN=demo device,O=Keyward' --out device.csr"
KEYWARD_PIN=$USER_PIN "$build/keyward" csr "$uri" --subject "CN=demo device,O=Keyward" --san dns:device.example --out "$tmp/device.csr"
openssl req -in "$tmp/device.csr" -verify -noout 2>&1 | sed 's/^/openssl: /'
echo "firmware image" >"$tmp/fw.bin"
p11 --token-label "demo device" --login --pin "$USER_PIN" --sign --mechanism ECDSA-SHA256 --id 02 \
    --signature-format openssl -i "$tmp/fw.bin" -o "$tmp/fw.sig"
p11 --token-label "demo device" --read-object --type pubkey --id 02 -o "$tmp/device-pub.der"
openssl dgst -sha256 -verify "$tmp/device-pub.der" -keyform DER -signature "$tmp/fw.sig" "$tmp/fw.bin" | sed 's/^/openssl: /'

step "6. Stop the daemon; the next call starts it again and the objects are still there"
stop_daemon
p11 --token-label "demo device" --login --pin "$USER_PIN" --read-object --type data --label "provisioning record" -o "$tmp/back.txt"
cmp "$tmp/device.txt" "$tmp/back.txt" && echo "data object read back intact: $(cat "$tmp/back.txt")"

step "7. Stop the daemon and remove the temporary store"
stop_daemon
echo "demo: done"
