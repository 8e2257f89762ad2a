#!/usr/bin/env bash
# footprint.sh BUILD_DIR: the footprint table of `make footprint` (docs/embedded.md, "Footprint").
#
# Per architecture of `make cross` (BUILD_DIR/<arch>/): stripped keywardd and keyward sizes, libkeyward.so's size
# and DT_NEEDED; and the daemon's RSS idle, peak over 8 concurrent logins (real Argon2id) and with 10k objects,
# measured natively on the amd64 build only: under qemu-user the RSS would be the emulator's, not the target's.
# Exits non-zero when a figure passes its budget (sizes and RSS are stable from run to run; no timing):
#   keywardd <= 10 MiB (arm64, riscv64; armhf 10.25 MiB; 11 MiB for x86-64, whose code is larger) as a device without a
#   TPM builds it (-tags notpm2), and 1 MiB more with the TPM 2.0 backend (go-tpm, the default build);
#   libkeyward.so <= 150 KiB needing only libc, idle RSS <= 15 MiB, peak during 8 concurrent logins <= 96 MiB,
#   10k objects <= 64 MiB.
set -u
build=${1:-build}
GO=${GO:-go}
MiB=$((1024 * 1024))
fail=0

budget() { # name value limit unit-label
    if [ "$2" -gt "$3" ]; then
        echo "footprint: $1 = $2 exceeds its budget of $3 bytes" >&2
        fail=1
    fi
}
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

printf '%-11s %13s %13s %13s %15s %-24s %10s %14s %12s\n' arch "keywardd" "(no TPM)" keyward libkeyward.so DT_NEEDED "idle RSS" "8-login peak" "10k objects"
for arch in arm64 armhf riscv64 musl-amd64; do
    d=$build/$arch
    if [ ! -x "$d/keywardd" ] || [ ! -x "$d/keywardd-notpm2" ] || [ ! -f "$d/libkeyward.so.1" ]; then
        echo "footprint: $d is not built (make cross)" >&2
        exit 1
    fi
    kd=$(stat -c %s "$d/keywardd")
    kn=$(stat -c %s "$d/keywardd-notpm2")
    kc=$(stat -c %s "$d/keyward")
    so=$(stat -c %s "$d/libkeyward.so.1")
    needed=$(readelf -dW "$d/libkeyward.so.1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ' | sed 's/ $//')
    # armhf: 10.25 MiB since issue 15 (the shared-memory ring and the generated codecs crossed a 64 KiB segment
    # step at 10 MiB + 162 bytes; docs/embedded.md, "Footprint").
    case $arch in musl-amd64) lim=$((11 * MiB)) ;; armhf) lim=$((41 * MiB / 4)) ;; *) lim=$((10 * MiB)) ;; esac
    budget "$arch keywardd (-tags notpm2)" "$kn" "$lim"
    budget "$arch keywardd (with the TPM 2.0 backend)" "$kd" $((lim + MiB))
    budget "$arch libkeyward.so" "$so" $((150 * 1024))
    case $needed in
    libc.so.6 | libc.so) ;;
    *) echo "footprint: $arch libkeyward.so needs [$needed], not only libc" >&2; fail=1 ;;
    esac
    idle=- peak=- objs=-
    if [ "$arch" = musl-amd64 ] && [ "$(uname -m)" = x86_64 ]; then
        out=$($GO run ./internal/tools/footprint -daemon "$d/keywardd") || { echo "footprint: RSS run failed" >&2; exit 1; }
        i=$(echo "$out" | awk '/^idle_rss_kib/ {print $2 * 1024}')
        p=$(echo "$out" | awk '/^login_peak_kib/ {print $2 * 1024}')
        o=$(echo "$out" | awk '/^objects_rss_kib/ {print $2 * 1024}')
        budget "idle RSS" "$i" $((15 * MiB))
        budget "RSS peak during 8 concurrent logins" "$p" $((96 * MiB))
        budget "RSS with 10k objects" "$o" $((64 * MiB))
        idle="$(mib "$i") MiB" peak="$(mib "$p") MiB" objs="$(mib "$o") MiB"
    fi
    printf '%-11s %9s MiB %9s MiB %9s MiB %11s KiB %-24s %10s %14s %12s\n' "$arch" "$(mib "$kd")" "$(mib "$kn")" "$(mib "$kc")" \
        "$(awk -v b="$so" 'BEGIN { printf "%.1f", b / 1024 }')" "$needed" "$idle" "$peak" "$objs"
done
echo "(RSS: the amd64 daemon measured natively, with the default Argon2id setting of this machine; the daemon's"
echo " RSS on the other targets is of the same order: the heap is the same program's)"
exit $fail
