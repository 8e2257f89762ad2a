#!/usr/bin/env bash
# run-abi.sh BUILD_DIR ABI_TEST: run the C ABI test (tests/c/abi.c) against a private keywardd.
#
# Starts BUILD_DIR/keywardd on a fresh temporary store and socket (KEYWARD_KDF=fast), runs the test with
# KEYWARD_SOCKET pointing at it and KEYWARD_TEST_DAEMON_PID set to its pid, and kills the daemon at the end.
#
# Restart handshake (the daemon-death test): the test SIGKILLs the daemon itself, then writes the line
# "RESTART" on its stdout; this script starts a new daemon on the same store and socket and answers
# "RESTARTED <pid>" on the test's stdin. Every other line of the test's stdout is passed through.
# Then "abi legacy" runs against a daemon started with --legacy-protocol (an older daemon: no fused calls).
# Exits non-zero when the test fails, crashes, or takes longer than KEYWARD_TEST_TIMEOUT (default 60 s).
# KEYWARD_TEST_EXEC prefixes the test program (tests/cross.sh: a foreign build under qemu-user, the daemon native).
set -u
run=${KEYWARD_TEST_EXEC:-}
build=${1:-build}
abi=${2:-$build/tests/abi}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-abi.XXXXXX")
sock=$tmp/keyward.sock
pidfile=$tmp/daemon.pid

cleanup() {
    if [ -s "$pidfile" ]; then kill -9 "$(cat "$pidfile")" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

start_daemon() {
    rm -f "$sock"
    KEYWARD_KDF=fast "$build/keywardd" --user --store "$tmp/store" --root-key "$tmp/root.key" \
        --socket "$sock" --idle-exit 0 >>"$tmp/daemon.log" 2>&1 </dev/null 3>&- &
    echo $! >"$pidfile"
    disown $! 2>/dev/null
    for _ in $(seq 1 200); do
        [ -S "$sock" ] && return 0
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 0.05
    done
    echo "run-abi: keywardd did not start; its log:" >&2
    cat "$tmp/daemon.log" >&2
    return 1
}

if [ ! -x "$build/keywardd" ]; then
    echo "run-abi: $build/keywardd is missing (make go-build)" >&2
    exit 1
fi
start_daemon || exit 1

mkfifo "$tmp/to-test"
export KEYWARD_SOCKET=$sock
export KEYWARD_TEST_DAEMON_PID
KEYWARD_TEST_DAEMON_PID=$(cat "$pidfile")
unset KEYWARD_AUTOSTART KEYWARD_DEBUG

# The main run, twice: through the shared-memory rings (the default), then with KEYWARD_RING=0 through the
# socket alone.
run_main() {
    rm -f "$tmp/status"
    KEYWARD_TEST_DAEMON_PID=$(cat "$pidfile") # the daemon-death test kills it; the harness starts another
    (
        timeout -k 5 "${KEYWARD_TEST_TIMEOUT:-60}" $run "$abi" <"$tmp/to-test"
        echo $? >"$tmp/status"
    ) | (
        exec 3>"$tmp/to-test"
        while IFS= read -r line; do
            case $line in
            RESTART)
                if start_daemon; then echo "RESTARTED $(cat "$pidfile")" >&3; else echo "FAILED" >&3; fi
                ;;
            *) printf '%s\n' "$line" ;;
            esac
        done
    )
    status=$(cat "$tmp/status" 2>/dev/null || echo 1)
    if [ "$status" != 0 ]; then
        echo "run-abi: abi test failed (status $status); daemon log:" >&2
        tail -n 30 "$tmp/daemon.log" >&2
        exit 1
    fi
}
run_main
export KEYWARD_RING=0
run_main
unset KEYWARD_RING

# An older daemon (keywardd --legacy-protocol: no fused calls): the library must fall back to a call per
# function, with the same results.
kill -9 "$(cat "$pidfile")" 2>/dev/null
rm -rf "$tmp/store-legacy"
legacy_sock=$tmp/legacy.sock
KEYWARD_KDF=fast "$build/keywardd" --user --store "$tmp/store-legacy" --root-key "$tmp/root-legacy.key" \
    --socket "$legacy_sock" --idle-exit 0 --legacy-protocol >>"$tmp/daemon-legacy.log" 2>&1 </dev/null 3>&- &
echo $! >"$pidfile"
disown $! 2>/dev/null
for _ in $(seq 1 200); do [ -S "$legacy_sock" ] && break; sleep 0.05; done
if ! KEYWARD_SOCKET=$legacy_sock timeout -k 5 30 $run "$abi" legacy </dev/null; then
    echo "run-abi: legacy-daemon test failed; daemon log:" >&2
    tail -n 30 "$tmp/daemon-legacy.log" >&2
    exit 1
fi

# Autostart: no KEYWARD_SOCKET, a private XDG_RUNTIME_DIR; the library starts KEYWARD_DAEMON --user, which the
# test stops at the end.
mkdir -m 700 "$tmp/xdg" "$tmp/home"
if ! env -u KEYWARD_SOCKET -u KEYWARD_TEST_DAEMON_PID XDG_RUNTIME_DIR="$tmp/xdg" HOME="$tmp/home" \
    XDG_DATA_HOME="$tmp/home/data" XDG_CONFIG_HOME="$tmp/home/config" KEYWARD_DAEMON="$PWD/$build/keywardd" \
    KEYWARD_KDF=fast timeout -k 5 30 $run "$abi" autostart </dev/null; then
    echo "run-abi: autostart test failed" >&2
    exit 1
fi
exit 0
