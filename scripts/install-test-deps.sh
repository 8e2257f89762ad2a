#!/usr/bin/env bash
# install-test-deps.sh: install the Debian 12 packages the conformance, sealing and embedded tests need:
# google/pkcs11test's build (g++, libgtest-dev), SoftHSMv2 (a second PKCS#11 module: comparison and the pkcs11
# seal backend), a software TPM 2.0 (swtpm, swtpm-tools, tpm2-tools), and the cross toolchains with qemu-user for
# the arm64, armhf, riscv64 and musl builds and their tests under emulation, and clang's libFuzzer (make fuzz).
# Installs only what is missing (apt-get needs root); prints what it does. Safe to run again.
set -euo pipefail
packages=(
    g++ libgtest-dev                     # google/pkcs11test (make conformance)
    softhsm2                             # comparison module (make bench, conformance table) and seal: pkcs11 tests
    libcmocka-dev libssl-dev             # OpenSC's p11test, built by hand outside the repository (docs/conformance.md)
    swtpm swtpm-tools tpm2-tools         # a real TPM 2.0 on a Unix socket (seal: tpm2 tests)
    qemu-user-static                     # run cross-built test binaries (make test-cross)
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
    musl-tools                           # the client against musl
    clang libclang-rt-dev                # libFuzzer for the C codec's fuzz target (make fuzz, tests/fuzz.mk)
    systemd                              # systemd-socket-activate (socket activation test, tests/integration)
)
. "$(dirname "$0")/apt-install-missing.sh"
apt_install_missing install-test-deps "${packages[@]}"
