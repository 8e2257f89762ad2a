################################################################################
#
# keyward
#
################################################################################

KEYWARD_VERSION = main
KEYWARD_SITE = https://github.com/keyward/keyward.git
KEYWARD_SITE_METHOD = git
KEYWARD_LICENSE = PROPRIETARY
KEYWARD_INSTALL_STAGING = YES
# Buildroot vendors the Go modules when it downloads the source (go mod vendor), so the build needs no network.
KEYWARD_GOMOD = github.com/keyward/keyward
KEYWARD_BUILD_TARGETS = cmd/keywardd cmd/keyward
KEYWARD_LDFLAGS = -s -w
KEYWARD_GO_ENV = CGO_ENABLED=0
# Without BR2_PACKAGE_KEYWARD_TPM2 the daemon leaves out the TPM 2.0 seal backend (about 0.45 MiB of flash).
ifneq ($(BR2_PACKAGE_KEYWARD_TPM2),y)
KEYWARD_TAGS = notpm2
endif

# libkeyward.so: C11, only libc (glibc, musl or uClibc-ng with close_range/statx fallbacks).
define KEYWARD_BUILD_CLIENT
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) BUILD=$(@D)/build CC="$(TARGET_CC)" \
		CFLAGS="$(TARGET_CFLAGS)" $(@D)/build/libkeyward.so
	cp $(@D)/bin/keywardd $(@D)/bin/keyward $(@D)/build/
endef
KEYWARD_POST_BUILD_HOOKS += KEYWARD_BUILD_CLIENT

define KEYWARD_INSTALL_STAGING_CMDS
	$(INSTALL) -D -m 0755 $(@D)/build/libkeyward.so.1 $(STAGING_DIR)/usr/lib/libkeyward.so.1
	ln -sf libkeyward.so.1 $(STAGING_DIR)/usr/lib/libkeyward.so
	$(INSTALL) -D -m 0644 $(@D)/include/keyward/pkcs11.h $(STAGING_DIR)/usr/include/keyward/pkcs11.h
endef

define KEYWARD_INSTALL_TARGET_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) install BUILD=$(@D)/build DESTDIR=$(TARGET_DIR) PREFIX=/usr \
		SYSCONFDIR=/etc INSTALL_SYSVINIT=0
	$(if $(BR2_PACKAGE_KEYWARD_CLI),,rm -f $(TARGET_DIR)/usr/bin/keyward)
	$(if $(BR2_INIT_SYSTEMD),,rm -rf $(TARGET_DIR)/usr/lib/systemd/system/keywardd.* \
		$(TARGET_DIR)/usr/lib/systemd/user/keywardd.service)
endef

define KEYWARD_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(BR2_EXTERNAL_KEYWARD_PATH)/package/keyward/S50keywardd $(TARGET_DIR)/etc/init.d/S50keywardd
endef

define KEYWARD_USERS
	keyward -1 keyward -1 * /var/lib/keyward - - Keyward key daemon
endef

$(eval $(golang-package))
