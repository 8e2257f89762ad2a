# make install DESTDIR=... PREFIX=...: the installed layout (docs/embedded.md; the Yocto and Buildroot recipes
# in dist/ install the same):
#   $(PREFIX)/lib/libkeyward.so.1 (+ libkeyward.so)    the PKCS#11 module
#   $(PREFIX)/libexec/keyward/keywardd                 the daemon (libkeyward.so starts it from here)
#   $(PREFIX)/bin/keyward                              the CLI
#   $(SYSTEMDUNITDIR)/keywardd.{service,socket}, keywardd-user.service under $(SYSTEMDUSERUNITDIR)
#   $(SYSCONFDIR)/keyward/keywardd.yaml                the configuration (a conffile: never overwritten)
#   $(SYSCONFDIR)/init.d/keywardd                      with INSTALL_SYSVINIT=1 (systems without systemd)
# INSTALL_FROM=build/<arch> installs a cross build (make cross) instead of the native one.
PREFIX             ?= /usr
SYSCONFDIR         ?= /etc
SYSTEMDUNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSTEMDUSERUNITDIR ?= $(PREFIX)/lib/systemd/user
INSTALL_FROM       ?= $(BUILD)
INSTALL_SYSVINIT   ?= 0
INSTALL            ?= install

.PHONY: install test-install

install:
	@test -f $(INSTALL_FROM)/$(SONAME) -a -x $(INSTALL_FROM)/keywardd -a -x $(INSTALL_FROM)/keyward || \
		{ echo "install: build first (make, or make cross for INSTALL_FROM=build/<arch>)" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/libexec/keyward $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSTEMDUSERUNITDIR) $(DESTDIR)$(SYSCONFDIR)/keyward
	$(INSTALL) -m 0755 $(INSTALL_FROM)/$(SONAME) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libkeyward.so
	$(INSTALL) -m 0755 $(INSTALL_FROM)/keywardd $(DESTDIR)$(PREFIX)/libexec/keyward/keywardd
	$(INSTALL) -m 0755 $(INSTALL_FROM)/keyward $(DESTDIR)$(PREFIX)/bin/keyward
	sed 's|/usr/libexec/keyward/|$(PREFIX)/libexec/keyward/|g' dist/systemd/keywardd.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/keywardd.service
	$(INSTALL) -m 0644 dist/systemd/keywardd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/keywardd.socket
	sed 's|/usr/libexec/keyward/|$(PREFIX)/libexec/keyward/|g' dist/systemd/keywardd-user.service \
		>$(DESTDIR)$(SYSTEMDUSERUNITDIR)/keywardd.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/keywardd.service $(DESTDIR)$(SYSTEMDUSERUNITDIR)/keywardd.service
	@# A conffile: an edited configuration is kept.
	[ -e $(DESTDIR)$(SYSCONFDIR)/keyward/keywardd.yaml ] || \
		$(INSTALL) -m 0644 dist/keywardd.yaml $(DESTDIR)$(SYSCONFDIR)/keyward/keywardd.yaml
	if [ "$(INSTALL_SYSVINIT)" = 1 ]; then \
		$(INSTALL) -d $(DESTDIR)$(SYSCONFDIR)/init.d && \
		sed 's|/usr/libexec/keyward/|$(PREFIX)/libexec/keyward/|g' dist/sysvinit/keywardd \
			>$(DESTDIR)$(SYSCONFDIR)/init.d/keywardd && chmod 0755 $(DESTDIR)$(SYSCONFDIR)/init.d/keywardd; fi

# The install layout and the units (tests/install.sh); part of `make test`.
test-install: build
	tests/install.sh $(BUILD)
