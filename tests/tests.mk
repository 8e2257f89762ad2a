# Test targets, included from the top Makefile.
#   make test       every test: Go unit and integration tests (engine, store, wire, daemon, pkcs11-tool,
#                   crash and store-scan tests, Wycheproof through libkeyward.so, the application interop
#                   scenarios), then the C client's golden-vector and ABI tests under ASan/UBSan.
#   make test-go    only the Go tests (and internal/mech again with the openssl tag, when cgo works)
#   make test-c     only the C tests
#   make fuzz       the fuzz targets, 60 s each (make test runs them for about 40 s in all: tests/fuzz.mk)
#   make conformance  google/pkcs11test against libkeyward.so (docs/conformance.md)
#   make test-cross the embedded targets under qemu-user (cross.mk, tests/cross.sh); make test-install the
#                   install layout and systemd-analyze verify (install.mk); make footprint the size and RSS budgets
include tests/c.mk
include tests/fuzz.mk

GOTEST_FLAGS ?= -count=1 -timeout 25m

test: deps build
	$(MAKE) --no-print-directory test-go test-c fuzz-short conformance test-cross test-install footprint
	@echo "keyward: all tests passed"

test-go: build
	rm -rf $(BUILD)/reports && mkdir -p $(BUILD)/reports
	KEYWARD_BUILD=$(CURDIR)/$(BUILD) KEYWARD_REPORT_DIR=$(CURDIR)/$(BUILD)/reports KEYWARD_INTEROP_REPORT=$(CURDIR)/$(BUILD)/reports/interop.txt $(GO) test $(GOTEST_FLAGS) ./...
	@cat $(BUILD)/reports/*.txt 2>/dev/null || true
	@# The optional libcrypto-backed RSA (build tag openssl; cgo): the same mechanism tests, Wycheproof included.
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ]; then $(GO) test $(GOTEST_FLAGS) -tags openssl ./internal/mech/; fi
	@# The pkcs11 seal backend (build tag seal_pkcs11; cgo) against SoftHSMv2.
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ]; then $(GO) test $(GOTEST_FLAGS) -tags seal_pkcs11 -run PKCS11 ./internal/seal/; fi

deps:
	./scripts/install-deps.sh
	./scripts/install-interop-deps.sh
	./scripts/install-test-deps.sh

# google/pkcs11test, both variants, against build/libkeyward.so; failures beyond tests/conformance/not-applicable.txt
# fail (tests/conformance/run.sh; docs/conformance.md). The suite's two builds are cached in build/conformance.
conformance: build
	tests/conformance/run.sh $(BUILD)
