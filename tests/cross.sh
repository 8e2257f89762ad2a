#!/usr/bin/env bash
# cross.sh BUILD_DIR: the embedded targets under emulation (make test-cross; docs/embedded.md).
#
# For each architecture built by `make cross` (BUILD_DIR/<arch>/):
#   - the client needs no glibc symbol version above GLIBC_2.31 (Debian 11, Yocto kirkstone) and only libc;
#   - the C golden-vector test, under qemu-user (musl-amd64 natively);
#   - the C ABI test: the foreign tests/abi and libkeyward.so under qemu-user against the native amd64
#     keywardd (tests/c/run-abi.sh with KEYWARD_TEST_EXEC);
#   - one end-to-end flow: the foreign keywardd and keyward under qemu-user: token init, an EC P-256 key, a
#     signature, verified natively by openssl.
# Then the Go unit tests of a few packages for arm64 (go test -c, run under qemu-aarch64-static).
# Skips (exit 0, with the reason) when qemu-user or the cross compilers are not installed.
set -u
build=${1:-build}
GO=${GO:-go}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
fail=0
t0=$(date +%s)

declare -A QEMU=([arm64]="qemu-aarch64-static -L /usr/aarch64-linux-gnu" [armhf]="qemu-arm-static -L /usr/arm-linux-gnueabihf"
    [riscv64]="qemu-riscv64-static -L /usr/riscv64-linux-gnu" [musl-amd64]="")
for q in qemu-aarch64-static qemu-arm-static qemu-riscv64-static; do
    if ! command -v $q >/dev/null; then
        echo "test-cross: skipped: $q is not installed (scripts/install-test-deps.sh)"
        exit 0
    fi
done

ok() { echo "test-cross: $1: ok"; }
bad() { echo "test-cross: $1: FAILED" >&2; fail=1; }

for arch in arm64 armhf riscv64 musl-amd64; do
    d=$build/$arch
    run=${QEMU[$arch]}
    # glibc 2.31 and libc only.
    newest=$(objdump -T "$d/libkeyward.so.1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    if [ -n "$newest" ] && [ "$(printf '%s\nGLIBC_2.31\n' "$newest" | sort -V | tail -1)" != GLIBC_2.31 ]; then
        bad "$arch libkeyward.so needs $newest (> GLIBC_2.31): $(objdump -T "$d/libkeyward.so.1" | grep -E 'GLIBC_2\.(3[2-9]|[4-9])' | awk '{print $NF}' | tr '\n' ' ')"
    else
        ok "$arch libkeyward.so symbol versions (newest ${newest:-none})"
    fi
    # golden
    if $run "$d/tests/golden" internal/wire/testdata/golden.txt internal/wire/testdata/params.txt >"$d/golden.log" 2>&1; then
        ok "$arch golden ($(tail -1 "$d/golden.log"))"
    else
        cat "$d/golden.log" >&2
        bad "$arch golden"
    fi
    # ABI: foreign client, native daemon
    if KEYWARD_TEST_LIB=$d/libkeyward.so KEYWARD_TEST_EXEC="$run" KEYWARD_TEST_TIMEOUT=180 \
        tests/c/run-abi.sh "$build" "$d/tests/abi" >"$d/abi.log" 2>&1; then
        ok "$arch abi ($(grep -E '^abi: ' "$d/abi.log" | tail -1))"
    else
        tail -40 "$d/abi.log" >&2
        bad "$arch abi"
    fi
    # End to end: the foreign daemon and CLI.
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-cross.XXXXXX")
    sock=$tmp/keyward.sock
    KEYWARD_KDF=fast $run "$d/keywardd" --user --store "$tmp/store" --root-key "$tmp/root.key" --socket "$sock" \
        --idle-exit 0 >"$tmp/daemon.log" 2>&1 </dev/null &
    dpid=$!
    for _ in $(seq 1 300); do [ -S "$sock" ] && break; sleep 0.1; done
    e2e() {
        local kw="$run $d/keyward"
        export KEYWARD_SOCKET=$sock KEYWARD_SO_PIN=so-pin-1234 KEYWARD_PIN=user-1234
        printf user-1234 >"$tmp/user.pin"
        $kw token init --label cross --pin-source "$tmp/user.pin" >/dev/null &&
            uri=$($kw key generate --type ec:p256 --label fw --token cross) &&
            echo "firmware for $arch" >"$tmp/fw.bin" &&
            $kw sign "$uri" --in "$tmp/fw.bin" --out "$tmp/fw.sig" &&
            $kw export "$uri" --out "$tmp/fw.pub.pem" &&
            openssl dgst -sha256 -verify "$tmp/fw.pub.pem" -signature "$tmp/fw.sig" "$tmp/fw.bin" >/dev/null
    }
    if (e2e) >"$tmp/e2e.log" 2>&1; then
        ok "$arch end to end (foreign keywardd and keyward: token, EC key, signature verified by openssl)"
    else
        cat "$tmp/e2e.log" "$tmp/daemon.log" >&2
        bad "$arch end to end"
    fi
    kill "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
    rm -rf "$tmp"
done

# Go unit tests for arm64: the packages whose code depends on the word size, byte order or platform (the wire
# codec, the vault, the configuration, the URI parser, the mechanisms) — the rest is the same Go. (The store's
# tests re-execute their own binary, which qemu-user without binfmt cannot do.)
# internal/mech (every mechanism against its vectors, -short) is most of the time: about 85 s under emulation.
GO_CROSS_PKGS=${GO_CROSS_PKGS:-./internal/wire ./internal/vault ./internal/config ./pkg/p11uri ./internal/mech}
mkdir -p "$build/arm64/gotest"
for p in $GO_CROSS_PKGS; do
    bin=$build/arm64/gotest/$(basename "$p").test
    if ! CGO_ENABLED=0 GOARCH=arm64 $GO test -c -o "$bin" "$p" >"$bin.log" 2>&1; then
        cat "$bin.log" >&2
        bad "arm64 go test $p (build)"
        continue
    fi
    if (cd "$p" && qemu-aarch64-static "$here/$bin" -test.count=1 -test.short -test.timeout=5m) >"$bin.log" 2>&1; then
        ok "arm64 go test $p"
    else
        tail -30 "$bin.log" >&2
        bad "arm64 go test $p"
    fi
done
echo "test-cross: $(($(date +%s) - t0)) s"
exit $fail
