#!/usr/bin/env bash
# run.sh [BUILD_DIR] [RTT_ARGS...]: build tests/rtt/rtt.c and time the bare round trip through
# BUILD_DIR/libkeyward.so against a private BUILD_DIR/keywardd (fresh store and socket, KEYWARD_KDF=fast),
# then the socketpair floor. A measurement, not a test (docs/performance.md, "The round trip").
#   RTT_DAEMON_ARGS   extra keywardd arguments
#   RTT_KEEP=1        leave the daemon running and print its pid and socket (kill it yourself)
set -eu
build=${1:-build}
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(20000 7)
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
"$build/rtt" "$build/libkeyward.so" "${args[@]}"
"$build/rtt" -floor "${args[0]}" "${args[1]:-7}"
if [ "${RTT_KEEP:-0}" = 1 ]; then echo "daemon pid $pid socket $sock"; fi
