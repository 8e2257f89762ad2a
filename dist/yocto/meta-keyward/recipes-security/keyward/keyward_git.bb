SUMMARY = "Keyward: a PKCS#11 key store for embedded Linux (libkeyward.so, keywardd, keyward)"
DESCRIPTION = "libkeyward.so is a thin PKCS#11 client; keywardd, the daemon, owns every key in an encrypted \
SQLite store; keyward is the command line tool. docs/embedded.md in the source tree."
HOMEPAGE = "https://github.com/keyward/keyward"
LICENSE = "CLOSED"
# Set LICENSE and LIC_FILES_CHKSUM to the project's licence file once it has one.

SRC_URI = "git://github.com/keyward/keyward.git;protocol=https;branch=main;destsuffix=${GO_SRCURI_DESTSUFFIX} \
           file://keywardd-tpm.conf"
SRCREV = "${AUTOREV}"
PV = "0.1.0+git"

GO_IMPORT = "github.com/keyward/keyward"
inherit go-mod systemd update-rc.d useradd

# The Go modules are fetched by `go build` (go.sum pins them). For builds without network at compile time,
# vendor them (go mod vendor) into the source, or use the gomod:// fetcher of Yocto 5.1+ (SRC_URI += the lines
# `bitbake -c update_modules` writes); docs/embedded.md.
do_compile[network] = "1"

# keywardd and keyward are static, pure Go (no cgo); libkeyward.so is C11 and needs only libc.
export CGO_ENABLED = "0"
GO_LINKSHARED = ""
GOBUILDFLAGS:append = " -trimpath"

PACKAGECONFIG ??= ""
# tpm: let the sandboxed daemon reach /dev/tpmrm0 (the root key sealed to the TPM) and pull in the kernel driver.
# Without it the daemon is built with -tags notpm2: no TPM 2.0 stack (about 0.45 MiB less flash).
PACKAGECONFIG[tpm] = ",,,kernel-module-tpm-crb kernel-module-tpm-tis"
GOBUILDFLAGS:append = "${@bb.utils.contains('PACKAGECONFIG', 'tpm', '', ' -tags notpm2', d)}"

do_compile() {
    cd ${S}/src/${GO_IMPORT}
    ${GO} build ${GOBUILDFLAGS} -ldflags='-s -w' -o ${B}/build/ ./cmd/keywardd ./cmd/keyward
    oe_runmake BUILD=${B}/build CC="${CC}" CFLAGS="${CFLAGS}" LDFLAGS="${LDFLAGS}" ${B}/build/libkeyward.so
}

do_install() {
    cd ${S}/src/${GO_IMPORT}
    oe_runmake install BUILD=${B}/build DESTDIR=${D} PREFIX=${prefix} SYSCONFDIR=${sysconfdir} \
        SYSTEMDUNITDIR=${systemd_system_unitdir} SYSTEMDUSERUNITDIR=${systemd_user_unitdir} \
        INSTALL_SYSVINIT=${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', '1', '0', d)}
    if ${@bb.utils.contains('PACKAGECONFIG', 'tpm', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}/keywardd.service.d
        install -m 0644 ${WORKDIR}/keywardd-tpm.conf ${D}${systemd_system_unitdir}/keywardd.service.d/tpm.conf
    fi
    if ! ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        rm -rf ${D}${systemd_system_unitdir} ${D}${systemd_user_unitdir}
    fi
}

# The daemon's user; members of group keyward reach the system socket.
USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir /var/lib/keyward --no-create-home --shell /bin/false --gid keyward keyward"
GROUPADD_PARAM:${PN} = "--system keyward"

SYSTEMD_SERVICE:${PN} = "keywardd.socket keywardd.service"
SYSTEMD_AUTO_ENABLE = "enable"
INITSCRIPT_NAME = "keywardd"
INITSCRIPT_PARAMS = "defaults 30"

# The CLI is optional on a device (provisioning runs on the build host: keyward --store, docs/embedded.md).
PACKAGES =+ "${PN}-cli"
FILES:${PN}-cli = "${bindir}/keyward"
FILES:${PN} += "${libexecdir}/keyward ${libdir}/libkeyward.so.1 ${systemd_user_unitdir} \
                ${systemd_system_unitdir}/keywardd.service.d"
FILES:${PN}-dev += "${libdir}/libkeyward.so"
CONFFILES:${PN} = "${sysconfdir}/keyward/keywardd.yaml"
# Stripped by the Go linker already; the C library is stripped by the usual do_package.
INSANE_SKIP:${PN} += "already-stripped"
