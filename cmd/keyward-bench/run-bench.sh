#!/usr/bin/env bash
# run-bench.sh BUILD OUTDIR [keyward-bench flags...]: the `make bench` driver.
# Sets up SoftHSMv2 in a private directory and a private keywardd (default PIN KDF cost, so C_Login is honest)
# under OUTDIR/run, runs keyward-bench with SoftHSMv2 as the baseline and libkeyward.so second, writes
# OUTDIR/results.json and OUTDIR/results.png, and stops the daemon. BENCH_KDF=fast uses the test KDF (smoke only).
set -euo pipefail
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2

softhsm_lib=${SOFTHSM_LIB:-}
if [ -z "$softhsm_lib" ]; then
    for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
        if [ -f "$p" ]; then softhsm_lib=$p; break; fi
    done
fi
if [ -z "$softhsm_lib" ]; then
    echo "run-bench: SoftHSMv2 is not installed (Debian: apt-get install softhsm2)" >&2
    exit 1
fi

# A short private directory: a socket path is limited to 108 bytes.
run=$(mktemp -d /tmp/kwbench.XXXXXX)
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT

mkdir -p "$run/softhsm-tokens"
cat >"$run/softhsm2.conf" <<EOF
directories.tokendir = $run/softhsm-tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$run/softhsm2.conf

kdf_args=()
if [ "${BENCH_KDF:-}" = fast ]; then kdf_args=(--kdf fast); fi
"$build/keywardd" --user --store "$run/store" --root-key "$run/root.key" --socket "$run/kw.sock" \
    --idle-exit 0 --pid-file "$run/keywardd.pid" --log "$out/keywardd.log" ${kdf_args[@]+"${kdf_args[@]}"} &
daemon_pid=$!
for _ in $(seq 100); do
    [ -S "$run/kw.sock" ] && break
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        echo "run-bench: keywardd exited; see $out/keywardd.log" >&2
        tail -5 "$out/keywardd.log" >&2 || true
        exit 1
    fi
    sleep 0.05
done
[ -S "$run/kw.sock" ] || { echo "run-bench: keywardd did not start; see $out/keywardd.log" >&2; exit 1; }
export KEYWARD_SOCKET=$run/kw.sock KEYWARD_AUTOSTART=0

echo "run-bench: SoftHSMv2 $softhsm_lib (SOFTHSM2_CONF=$SOFTHSM2_CONF), keywardd pid $daemon_pid (socket $KEYWARD_SOCKET)" >&2
"$build/keyward-bench" \
    -module "$softhsm_lib,softhsm2" \
    -module "$build/libkeyward.so,keyward" \
    -daemon-pid "$daemon_pid" \
    -json "$out/results.json" -png "$out/results.png" "$@" | tee "$out/results.txt"
echo "run-bench: wrote $out/results.json, $out/results.png and $out/results.txt" >&2
