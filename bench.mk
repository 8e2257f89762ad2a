# Benchmarks (issue 7), included from the top Makefile.
#   make bench        SoftHSMv2 (the baseline) vs libkeyward.so vs Go in-process, one run: build/bench/results.{txt,json,png}
#   make bench-smoke  every workload once or for a few ms (CI): asserts only that it runs and writes JSON
# Variables: BENCH_DURATION (time per workload per module, default 2s), BENCH_ARGS (more keyward-bench flags, e.g.
# -big for 100k objects, -workloads 'ecdsa|rsa'), BENCH_DIR (default build/bench).
BENCH_DIR      ?= $(BUILD)/bench
BENCH_DURATION ?= 2s
BENCH_ARGS     ?=

.PHONY: bench bench-smoke bench-deps bench-build

# Only what the benchmark runs: the client library, the daemon and the tool.
bench-build: $(BUILD)/libkeyward.so
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -o $(BUILD)/ ./cmd/keywardd ./cmd/keyward-bench

bench-deps:
	@if [ ! -f /usr/lib/softhsm/libsofthsm2.so ] && ! command -v softhsm2-util >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "bench: SoftHSMv2 is missing: sudo apt-get install softhsm2" >&2; exit 1; \
		fi; \
		echo "bench: apt-get install softhsm2"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null; \
	fi

bench: bench-deps bench-build
	cmd/keyward-bench/run-bench.sh $(BUILD) $(BENCH_DIR) -duration $(BENCH_DURATION) $(BENCH_ARGS)

# CI: a few milliseconds per workload, small object counts, the fast test KDF; never a timed assertion.
bench-smoke: bench-deps bench-build
	BENCH_KDF=fast cmd/keyward-bench/run-bench.sh $(BUILD) $(BENCH_DIR)/smoke -duration 1ms -objects 10,20 \
		-load-runs 1 -rounds 1 -threads 1,2 $(BENCH_ARGS)
	@grep -q '"results"' $(BENCH_DIR)/smoke/results.json && test -s $(BENCH_DIR)/smoke/results.png && \
		echo "bench-smoke: ok ($(BENCH_DIR)/smoke/results.json)"
