#!/usr/bin/env bash
# run.sh [BUILD_DIR] [N [ROUNDS [THREADS [TIMES]]]]: build tests/rtt/rtt.c and time the bare round trip
# (C_GetSessionInfo) through BUILD_DIR/libkeyward.so against a private BUILD_DIR/keywardd (fresh store and
# socket, KEYWARD_KDF=fast): TIMES times (default 5) in turn through the socket (KEYWARD_RING=0), through the
# shared-memory ring, and the socketpair floor, each the median of ROUNDS rounds of N calls. On a shared
# machine, compare figures of the same line only. A measurement, not a test (docs/performance.md, "The round
# trip").
#   RTT_DAEMON_ARGS   extra keywardd arguments
#   RTT_KEEP=1        leave the daemon running and print its pid and socket (kill it yourself)
set -eu
build=${1:-build}
n=${2:-20000}
rounds=${3:-5}
threads=${4:-1}
times=${5:-5}
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -Iinclude -o "$build/rtt" tests/rtt/rtt.c -ldl -pthread
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-rtt.XXXXXX")
sock=$tmp/kw.sock
# shellcheck disable=SC2086
KEYWARD_KDF=fast "$build/keywardd" --user --store "$tmp/store" --root-key "$tmp/root.key" --socket "$sock" \
    --idle-exit 0 ${RTT_DAEMON_ARGS:-} >"$tmp/daemon.log" 2>&1 </dev/null &
pid=$!
if [ "${RTT_KEEP:-0}" != 1 ]; then trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT; fi
for _ in $(seq 1 200); do [ -S "$sock" ] && break; sleep 0.05; done
export KEYWARD_SOCKET=$sock KEYWARD_AUTOSTART=0
med() { sed 's/.*median \([0-9.]*\).*/\1/'; }
for _ in $(seq 1 "$times"); do
    s=$(KEYWARD_RING=0 "$build/rtt" "$build/libkeyward.so" "$n" "$rounds" "$threads" | med)
    r=$("$build/rtt" "$build/libkeyward.so" "$n" "$rounds" "$threads" | med)
    f=$("$build/rtt" -floor "$n" "$rounds" | med)
    echo "$(date +%T) load $(cut -d' ' -f1 /proc/loadavg) threads $threads: socket $s ring $r floor $f (µs per call)"
done
if [ "${RTT_KEEP:-0}" = 1 ]; then echo "daemon pid $pid socket $sock"; fi
