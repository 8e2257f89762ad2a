# Fuzzing, included from tests/tests.mk (docs/security.md, "Fuzzing").
#   make fuzz        every target for FUZZ_TIME seconds each (default 60): the Go native fuzz targets of
#                    internal/wire (one per decoder), then the C client's codec under libFuzzer
#   make fuzz-short  the same for a few seconds each (FUZZ_SHORT_GO, FUZZ_SHORT_C): part of `make test`, about
#                    40 s of fuzzing in all
# The C target (tests/fuzz/codec_fuzz.c) is built with clang -fsanitize=fuzzer,address,undefined and starts from
# the golden vectors (internal/wire/testdata/golden.txt, tests/fuzz/seeds.sh); what it finds is kept in
# build/fuzz/corpus, a crashing input in build/fuzz/crash-*. Go keeps a failing input in internal/wire/testdata/fuzz.
FUZZ_TIME     ?= 60
FUZZ_SHORT_GO ?= 6
FUZZ_SHORT_C  ?= 15
FUZZ_CC       ?= clang
FUZZ_DIR      := $(BUILD)/fuzz
GO_FUZZ_TARGETS := FuzzValidate FuzzReadRequest FuzzFramePoolReadRequest FuzzDecodeParams

.PHONY: fuzz fuzz-short fuzz-go fuzz-c

$(FUZZ_DIR)/codec_fuzz: tests/fuzz/codec_fuzz.c client/codec.c client/codec.h internal/wire/calls.def
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(CSTD) $(CWARN) -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Iclient -Iinternal/wire -o $@ tests/fuzz/codec_fuzz.c client/codec.c

fuzz-go:
	@for t in $(GO_FUZZ_TARGETS); do \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZ_SECONDS)s -parallel 1 ./internal/wire >$(FUZZ_DIR)/$$t.log 2>&1 \
			|| { cat $(FUZZ_DIR)/$$t.log; exit 1; }; \
		grep -h 'fuzz: elapsed' $(FUZZ_DIR)/$$t.log | tail -1; \
	done

fuzz-c: $(FUZZ_DIR)/codec_fuzz
	@mkdir -p $(FUZZ_DIR)/corpus
	@tests/fuzz/seeds.sh internal/wire/testdata/golden.txt $(FUZZ_DIR)/corpus
	@echo "fuzz: C codec (libFuzzer) for $(FUZZ_C_SECONDS) s"
	@$(FUZZ_DIR)/codec_fuzz -max_total_time=$(FUZZ_C_SECONDS) -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
		$(FUZZ_DIR)/corpus >$(FUZZ_DIR)/codec_fuzz.log 2>&1 || { tail -60 $(FUZZ_DIR)/codec_fuzz.log; exit 1; }
	@grep -E '^Done|stat::number_of_executed_units' $(FUZZ_DIR)/codec_fuzz.log | head -2

fuzz:
	@mkdir -p $(FUZZ_DIR)
	$(MAKE) --no-print-directory fuzz-go fuzz-c FUZZ_SECONDS=$(FUZZ_TIME) FUZZ_C_SECONDS=$(FUZZ_TIME)

fuzz-short:
	@mkdir -p $(FUZZ_DIR)
	$(MAKE) --no-print-directory fuzz-go fuzz-c FUZZ_SECONDS=$(FUZZ_SHORT_GO) FUZZ_C_SECONDS=$(FUZZ_SHORT_C)
