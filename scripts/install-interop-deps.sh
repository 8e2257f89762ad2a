#!/usr/bin/env bash
# install-interop-deps.sh: install the Debian 12 packages the application-interoperability tests
# (tests/interop, issue 5) drive: p11-kit, GnuTLS tools, OpenSSL with the libp11 pkcs11 engine, OpenSSH client
# and server, curl, OpenSC (pkcs11-tool and pkcs11-spy.so), NSS tools (modutil, certutil), Python PyKCS11 and
# the mosquitto broker and clients, nginx, Apache httpd, OpenVPN, eapol_test and hostapd, RAUC, swupdate and
# mender-artifact.
# Installs only what is missing (apt-get needs root); prints what it does. Safe to run again.
set -euo pipefail
packages=(
    opensc opensc-pkcs11            # pkcs11-tool creates the test tokens and keys; pkcs11-spy.so for traces
    p11-kit p11-kit-modules         # p11-kit CLI and p11-kit-proxy.so
    gnutls-bin                      # p11tool, certtool, gnutls-serv, gnutls-cli
    openssl libengine-pkcs11-openssl # openssl 3 and libp11's pkcs11 engine
    openssh-client openssh-server   # ssh, ssh-keygen, ssh-agent, ssh-add, sshd
    curl ca-certificates
    procps                          # ps, for diagnostics
    libnss3-tools                   # NSS modutil, certutil (scenario 11)
    python3 python3-pykcs11         # PyKCS11 (scenario 13)
    mosquitto mosquitto-clients     # MQTT broker, mosquitto_pub/_sub (scenario 9)
    nginx apache2                   # HTTPS servers with the key in the token (mod_ssl is in apache2-bin) (scenario 7)
    openvpn                         # OpenVPN 2.6 with pkcs11-helper (scenario 6)
    eapoltest hostapd               # eapol_test (wpa_supplicant's EAP client) and hostapd's RADIUS/EAP server (scenario 8)
    rauc squashfs-tools             # RAUC bundles; rauc bundle runs mksquashfs (scenario 10)
    swupdate mender-artifact        # swupdate -c checks CMS-signed .swu; mender-artifact sign --key-pkcs11 (scenario 10)
)
. "$(dirname "$0")/apt-install-missing.sh"
apt_install_missing install-interop-deps "${packages[@]}"
# openssh-server's postinst may start a system sshd under systemd or policy-rc.d; the tests run their own sshd on
# a private port and need nothing from it.
