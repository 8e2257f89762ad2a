# Application interoperability tests (issue 5), included from the top Makefile:
#   make interop    installs the Debian packages the scenarios drive (scripts/install-interop-deps.sh, as root),
#                   builds, then runs tests/interop: p11-kit, GnuTLS, OpenSSL + libp11, OpenSSH, curl against a
#                   private keywardd, and prints the table scenario / program and version / result.
# INTEROP_FLAGS adds `go test` flags, e.g. INTEROP_FLAGS=-v or INTEROP_FLAGS='-run OpenSSH'.
# KEYWARD_INTEROP_SPY=DIR makes every program load pkcs11-spy.so in front of libkeyward.so, one trace per run in DIR.
INTEROP_FLAGS  ?=
INTEROP_REPORT := $(BUILD)/interop-report.txt

.PHONY: interop interop-deps

interop-deps:
	./scripts/install-interop-deps.sh

interop: interop-deps build
	@rm -f $(INTEROP_REPORT)
	@KEYWARD_BUILD=$(CURDIR)/$(BUILD) KEYWARD_INTEROP_REPORT=$(CURDIR)/$(INTEROP_REPORT) \
		$(GO) test -count=1 -timeout 6m $(INTEROP_FLAGS) ./tests/interop/; rc=$$?; \
		cat $(INTEROP_REPORT) 2>/dev/null; exit $$rc
