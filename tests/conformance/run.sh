#!/usr/bin/env bash
# run.sh BUILD_DIR: `make conformance`. Runs google/pkcs11test (../shared/conformance/run-pkcs11test.sh, both
# variants) against BUILD_DIR/libkeyward.so on a private, empty user-mode store, then compares the failures with
# tests/conformance/not-applicable.txt: any failure it does not list fails the target.
#
# The daemon is autostarted by the library with private XDG_RUNTIME_DIR, XDG_DATA_HOME and XDG_CONFIG_HOME
# (no one else's daemon or store is touched), KEYWARD_KDF=fast and a configuration with min_rsa_bits: 1024 (the
# published variant generates RSA-1024 test keys); it is stopped at the end. The two pkcs11test builds are
# cached in BUILD_DIR/conformance (rebuilt when the suite's sources or the runner change).
set -u
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
suite=${KEYWARD_CONFORMANCE_SUITE:-$here/../../../shared/conformance}
runner=$suite/run-pkcs11test.sh
if [ ! -x "$runner" ]; then
    echo "conformance: $runner is missing (the shared conformance suite)" >&2
    exit 2
fi
out=$build/conformance
mkdir -p "$out"
stamp=$( (cat "$suite/pkcs11test/UPSTREAM" "$runner"; ls -l "$suite/pkcs11test") 2>/dev/null | sha256sum | cut -c1-16)
if [ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$out/build-upstream" "$out/build-modern"
    echo "$stamp" >"$out/stamp"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-conformance.XXXXXX")
mkdir -m 700 "$tmp/run" "$tmp/data" "$tmp/config"
printf 'min_rsa_bits: 1024\n' >"$tmp/keywardd.yaml"
stop_daemon() {
    local pid
    pid=$(cat "$tmp/run/keyward/keywardd.pid" 2>/dev/null) || return 0
    # Only our own daemon: its socket is in our private runtime directory.
    if [ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$tmp/run"; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
}
trap 'stop_daemon; rm -rf "$tmp"' EXIT
t0=$(date +%s)
env -u KEYWARD_SOCKET -u KEYWARD_AUTOSTART XDG_RUNTIME_DIR="$tmp/run" XDG_DATA_HOME="$tmp/data" \
    XDG_CONFIG_HOME="$tmp/config" KEYWARD_CONF="$tmp/keywardd.yaml" KEYWARD_KDF=fast KEYWARD_DAEMON="$build/keywardd" \
    "$runner" "$build/libkeyward.so" "$out" | tee "$tmp/summary"
if ! grep -q '^pkcs11test\[modern\]' "$tmp/summary"; then
    echo "conformance: the suite did not run (see above)" >&2
    exit 2
fi
rc=0
for v in upstream modern; do
    unexpected=0 na=0
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        hit=""
        while IFS='|' read -r var pat reason; do
            var=${var// /} pat=$(echo "$pat" | sed 's/^ *//; s/ *$//')
            case $var in "#"* | "") continue ;; esac
            [ "$var" = both ] || [ "$var" = "$v" ] || continue
            # shellcheck disable=SC2053 # PATTERN is a glob
            if [[ $line == $pat ]]; then hit=1; break; fi
        done <"$here/not-applicable.txt"
        if [ -n "$hit" ]; then
            na=$((na + 1))
        else
            echo "conformance: unexpected failure [$v]: $line" >&2
            unexpected=$((unexpected + 1))
        fi
    done <"$out/$v.failed"
    echo "conformance[$v]: $(grep -c '^\[       OK \]' "$out/$v.log") ok, $na not applicable (tests/conformance/not-applicable.txt), $unexpected unexpected"
    [ "$unexpected" -eq 0 ] || rc=1
done
echo "conformance: $(($(date +%s) - t0)) s; logs in $out"
exit $rc
