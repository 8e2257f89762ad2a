# Keyward build. `make` builds everything into build/; `make test` runs every test; `make demo` runs the demo.
GO        ?= go
CC        ?= cc
BUILD     := build
SONAME    := libkeyward.so.1
VERSION   := 0.1.0
CSTD      := -std=c11 -D_GNU_SOURCE
CWARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS    ?= -O2 -g
CLIENT_SRC := $(wildcard client/*.c)
CLIENT_HDR := $(wildcard client/*.h) include/keyward/pkcs11.h internal/wire/calls.def internal/wire/params.def

.PHONY: all build go-build client test test-go test-c deps demo clean fmt vet conformance

all: build

build: client go-build

client: $(BUILD)/libkeyward.so $(BUILD)/asan/libkeyward.so

$(BUILD)/libkeyward.so: $(CLIENT_SRC) $(CLIENT_HDR) client/exports.map
	@mkdir -p $(BUILD)
	$(CC) $(CSTD) $(CWARN) $(CFLAGS) -fPIC -fvisibility=hidden -Iinclude -Iinternal/wire -shared \
		-Wl,-soname,$(SONAME) -Wl,--version-script=client/exports.map -Wl,-z,defs -Wl,-z,now -Wl,-z,relro \
		-o $(BUILD)/$(SONAME) $(CLIENT_SRC)
	ln -sf $(SONAME) $@

# The same client built with AddressSanitizer and UBSan, for the C tests.
$(BUILD)/asan/libkeyward.so: $(CLIENT_SRC) $(CLIENT_HDR) client/exports.map
	@mkdir -p $(BUILD)/asan
	$(CC) $(CSTD) $(CWARN) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fPIC -fvisibility=hidden -Iinclude -Iinternal/wire -shared -Wl,-soname,$(SONAME) \
		-Wl,--version-script=client/exports.map -o $@ $(CLIENT_SRC)

go-build:
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -o $(BUILD)/ ./cmd/...

include tests/tests.mk
include tests/interop.mk
include bench.mk
include cross.mk
include install.mk
include lint.mk

demo: deps build
	./scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

fmt:
	gofmt -l -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...
