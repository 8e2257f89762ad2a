# Cross builds for embedded targets, included from the top Makefile (docs/embedded.md).
#   make cross     keywardd and keyward for linux/arm64, linux/arm (GOARM=7), linux/riscv64 (static, no cgo,
#                  stripped) and libkeyward.so with Debian's cross compilers and against musl, into build/<arch>/:
#                  build/arm64, build/armhf, build/riscv64, build/musl-amd64. The benchmark tool is not built.
# Each arch directory holds keywardd, keyward, libkeyward.so.1 (+ libkeyward.so) and the C test programs
# (tests/golden, tests/abi) that test-cross runs under qemu-user, and keywardd-notpm2: the daemon of a device
# without a TPM (-tags notpm2 leaves out the TPM 2.0 stack, about 0.45 MiB; the footprint budget's daemon).
CROSS_ARCHES  := arm64 armhf riscv64 musl-amd64
CROSS_CC_arm64      := aarch64-linux-gnu-gcc
CROSS_CC_armhf      := arm-linux-gnueabihf-gcc
CROSS_CC_riscv64    := riscv64-linux-gnu-gcc
CROSS_CC_musl-amd64 := musl-gcc
CROSS_GO_arm64      := GOARCH=arm64
CROSS_GO_armhf      := GOARCH=arm GOARM=7
CROSS_GO_riscv64    := GOARCH=riscv64
CROSS_GO_musl-amd64 := GOARCH=amd64
# Size: stripped (-s -w), and the packages off the hot path (the daemon's own code, YAML, JSON, slog, SQL glue)
# built without inlining, which saves 2.5% (260 KB on armv7); the crypto, runtime, math, sync, hash and
# SQLite packages keep it (docs/embedded.md, "Footprint").
CROSS_NOINLINE_KEEP := crypto/... golang.org/x/crypto/... github.com/cloudflare/circl/... runtime runtime/... \
                       math/... internal/... sync/... hash/... modernc.org/...
CROSS_GOFLAGS := -trimpath -ldflags='-s -w' -gcflags=all=-l $(foreach p,$(CROSS_NOINLINE_KEEP),-gcflags=$(p)=)
CROSS_CFLAGS  := -Os -g0
# The client links only libc: -z,defs catches anything else. -Wl,--hash-style=gnu keeps the .so small.
CROSS_SOFLAGS := -fPIC -fvisibility=hidden -ffunction-sections -fdata-sections -Wl,--gc-sections -s \
                 -Wl,-soname,$(SONAME) -Wl,--version-script=client/exports.map -Wl,-z,defs -Wl,-z,now \
                 -Wl,-z,relro -shared
# The C tests' programs (without sanitizers: the cross libasan is not installed everywhere).
CROSS_TESTFLAGS := -O1 -g

.PHONY: cross $(addprefix cross-,$(CROSS_ARCHES))

cross: $(addprefix cross-,$(CROSS_ARCHES))

define cross_arch
cross-$(1): $(BUILD)/$(1)/libkeyward.so $(BUILD)/$(1)/tests/golden $(BUILD)/$(1)/tests/abi $(BUILD)/$(1)/keywardd

$(BUILD)/$(1)/libkeyward.so: $(CLIENT_SRC) $(CLIENT_HDR) client/exports.map internal/wire/params.def
	@mkdir -p $(BUILD)/$(1)
	$(CROSS_CC_$(1)) $(CSTD) $(CWARN) $(CROSS_CFLAGS) -Iinclude -Iinternal/wire $(CROSS_SOFLAGS) \
		-o $(BUILD)/$(1)/$(SONAME) $(CLIENT_SRC)
	ln -sf $(SONAME) $$@

$(BUILD)/$(1)/tests/golden: tests/c/golden.c $(C_GOLDEN_SRC) $(CLIENT_HDR)
	@mkdir -p $(BUILD)/$(1)/tests
	$(CROSS_CC_$(1)) $(CSTD) $(CWARN) $(CROSS_TESTFLAGS) -Iinclude -Iclient -Iinternal/wire -o $$@ \
		tests/c/golden.c $(C_GOLDEN_SRC)

$(BUILD)/$(1)/tests/abi: tests/c/abi.c client/codec.c $(CLIENT_HDR)
	@mkdir -p $(BUILD)/$(1)/tests
	$(CROSS_CC_$(1)) $(CSTD) $(CWARN) $(CROSS_TESTFLAGS) -Iinclude -Iclient -Iinternal/wire \
		-Wl,--export-dynamic-symbol=send -o $$@ tests/c/abi.c client/codec.c -ldl -pthread

# The Go programs: always rebuilt (go build's cache makes that cheap), like go-build.
$(BUILD)/$(1)/keywardd: FORCE
	@mkdir -p $(BUILD)/$(1)
	CGO_ENABLED=0 GOOS=linux $(CROSS_GO_$(1)) $(GO) build $(CROSS_GOFLAGS) -o $(BUILD)/$(1)/ ./cmd/keywardd ./cmd/keyward
	CGO_ENABLED=0 GOOS=linux $(CROSS_GO_$(1)) $(GO) build $(CROSS_GOFLAGS) -tags notpm2 -o $(BUILD)/$(1)/keywardd-notpm2 ./cmd/keywardd
endef
$(foreach a,$(CROSS_ARCHES),$(eval $(call cross_arch,$(a))))

.PHONY: FORCE
FORCE:

# The C tests and a flow per architecture under qemu-user, and Go unit tests for arm64 (tests/cross.sh); part
# of `make test`. About 2.5 minutes with warm build caches on 2 cores (docs/embedded.md).
.PHONY: test-cross
test-cross: cross go-build
	GO=$(GO) tests/cross.sh $(BUILD)

# The footprint table and its budgets (scripts/footprint.sh): sizes per architecture, RSS natively.
.PHONY: footprint
footprint: cross
	GO=$(GO) scripts/footprint.sh $(BUILD)
