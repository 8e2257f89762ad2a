# C client tests, included from the top Makefile: `make test-c`.
#   golden: the C codec against internal/wire/testdata/golden.txt and the parameter layouts against
#           internal/wire/testdata/params.txt (built against client/codec.c, params.c and width.c directly).
#   abi:    the C ABI of build/asan/libkeyward.so (dlopen) against a private keywardd (tests/c/run-abi.sh).
C_TEST_DIR    := $(BUILD)/tests
C_TEST_CFLAGS := $(CSTD) $(CWARN) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=all

C_GOLDEN_SRC  := client/codec.c client/params.c client/width.c

$(C_TEST_DIR)/golden: tests/c/golden.c $(C_GOLDEN_SRC) client/codec.h client/params.h client/width.h client/wire_gen.h client/calls_gen.h \
		internal/wire/calls.def internal/wire/params.def include/keyward/pkcs11.h
	@mkdir -p $(C_TEST_DIR)
	$(CC) $(C_TEST_CFLAGS) -Iinclude -Iclient -Iinternal/wire -o $@ tests/c/golden.c $(C_GOLDEN_SRC)

$(C_TEST_DIR)/abi: tests/c/abi.c client/codec.c client/codec.h client/wire_gen.h client/calls_gen.h include/keyward/pkcs11.h internal/wire/calls.def
	@mkdir -p $(C_TEST_DIR)
	$(CC) $(C_TEST_CFLAGS) -Iinclude -Iclient -Iinternal/wire -Wl,--export-dynamic-symbol=send -o $@ tests/c/abi.c \
		client/codec.c -ldl -pthread

test-c: $(C_TEST_DIR)/golden $(C_TEST_DIR)/abi $(BUILD)/asan/libkeyward.so go-build
	$(C_TEST_DIR)/golden internal/wire/testdata/golden.txt internal/wire/testdata/params.txt
	tests/c/run-abi.sh $(BUILD) $(C_TEST_DIR)/abi

# client/params.c includes internal/wire/params.def, which the top Makefile's CLIENT_HDR does not list.
$(BUILD)/libkeyward.so $(BUILD)/asan/libkeyward.so: internal/wire/params.def
