#!/usr/bin/env bash
# run-bench.sh BUILD OUTDIR [keyward-bench flags...]: the `make bench` driver.
# Sets up SoftHSMv2 in a private directory and a private keywardd (default PIN KDF cost, so C_Login is honest)
# under OUTDIR/run, runs keyward-bench with SoftHSMv2 as the baseline and libkeyward.so second, writes
# OUTDIR/results.json and OUTDIR/results.png, and stops the daemon. BENCH_KDF=fast uses the test KDF (smoke only).
# KEYWARD_BENCH_OPENSSL: 1 adds a second pass, of the RSA workloads only (BENCH_OPENSSL_WORKLOADS, default
# "rsa"), against a private daemon started from BUILD/keywardd-openssl (the openssl build tag: libcrypto does
# the RSA private-key operations), written to OUTDIR/results-openssl.{txt,json,png}; the pass fails if that
# daemon did not use libcrypto. auto (or unset) runs the pass when BUILD/keywardd-openssl exists; 0 skips it.
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
stop_daemon() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=
    fi
}
cleanup() {
    stop_daemon
    rm -rf "$run"
}
trap cleanup EXIT

openssl_pass=${KEYWARD_BENCH_OPENSSL:-auto}
case "$openssl_pass" in
1) [ -x "$build/keywardd-openssl" ] || {
        echo "run-bench: KEYWARD_BENCH_OPENSSL=1 but $build/keywardd-openssl is missing (make bench-build-openssl)" >&2
        exit 1
    } ;;
0) ;;
auto) if [ -x "$build/keywardd-openssl" ]; then openssl_pass=1; else openssl_pass=0; fi ;;
*) echo "run-bench: KEYWARD_BENCH_OPENSSL is 1, 0 or auto, not '$openssl_pass'" >&2; exit 1 ;;
esac

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

# start_daemon BINARY NAME: a private keywardd with its store and socket under $run/NAME, its log in
# $out/NAME.log and its standard error in $out/NAME.stderr; sets daemon_pid and KEYWARD_SOCKET.
start_daemon() {
    local bin=$1 name=$2 dir=$run/$2
    mkdir -p "$dir"
    "$bin" --user --store "$dir/store" --root-key "$dir/root.key" --socket "$dir/kw.sock" \
        --idle-exit 0 --pid-file "$dir/keywardd.pid" --log "$out/$name.log" ${kdf_args[@]+"${kdf_args[@]}"} \
        2>"$out/$name.stderr" &
    daemon_pid=$!
    for _ in $(seq 100); do
        [ -S "$dir/kw.sock" ] && break
        if ! kill -0 "$daemon_pid" 2>/dev/null; then
            echo "run-bench: $name exited; see $out/$name.log" >&2
            tail -5 "$out/$name.log" "$out/$name.stderr" >&2 || true
            exit 1
        fi
        sleep 0.05
    done
    [ -S "$dir/kw.sock" ] || { echo "run-bench: $name did not start; see $out/$name.log" >&2; exit 1; }
    export KEYWARD_SOCKET=$dir/kw.sock KEYWARD_AUTOSTART=0
}

start_daemon "$build/keywardd" keywardd
echo "run-bench: SoftHSMv2 $softhsm_lib (SOFTHSM2_CONF=$SOFTHSM2_CONF), keywardd pid $daemon_pid (socket $KEYWARD_SOCKET)" >&2
"$build/keyward-bench" \
    -module "$softhsm_lib,softhsm2" \
    -module "$build/libkeyward.so,keyward" \
    -daemon-pid "$daemon_pid" \
    -json "$out/results.json" -png "$out/results.png" "$@" | tee "$out/results.txt"
echo "run-bench: wrote $out/results.json, $out/results.png and $out/results.txt" >&2
stop_daemon

[ "$openssl_pass" = 1 ] || exit 0
# The RSA workloads again, against the daemon built with the openssl tag. Its -workloads comes last, so it
# replaces any given in the arguments.
start_daemon "$build/keywardd-openssl" keywardd-openssl
echo "run-bench: openssl pass: keywardd-openssl pid $daemon_pid (socket $KEYWARD_SOCKET)" >&2
"$build/keyward-bench" \
    -module "$softhsm_lib,softhsm2" \
    -module "$build/libkeyward.so,keyward-openssl" \
    -daemon-pid "$daemon_pid" \
    -json "$out/results-openssl.json" -png "$out/results-openssl.png" "$@" \
    -workloads "${BENCH_OPENSSL_WORKLOADS:-rsa}" | tee "$out/results-openssl.txt"
stop_daemon
# The daemon says once, on its standard error, which implementation its first RSA private key got.
if ! grep -q "RSA private-key operations by libcrypto" "$out/keywardd-openssl.stderr"; then
    echo "run-bench: keywardd-openssl did not use libcrypto for RSA; see $out/keywardd-openssl.stderr" >&2
    cat "$out/keywardd-openssl.stderr" >&2
    exit 1
fi
echo "run-bench: wrote $out/results-openssl.json, $out/results-openssl.png and $out/results-openssl.txt" \
    "($(grep -o 'version="[^"]*"' "$out/keywardd-openssl.stderr" | head -1))" >&2
