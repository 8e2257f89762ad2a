# Benchmarks (issue 7), included from the top Makefile.
#   make bench        SoftHSMv2 (the baseline) vs libkeyward.so vs Go in-process, one run: build/bench/results.{txt,json,png}
#   make bench-smoke  every workload once or for a few ms (CI): asserts only that it runs and writes JSON
#   make bench-build-openssl   build/keywardd-openssl: keywardd with the `openssl` build tag, whose RSA private-key
#                     operations are libcrypto's (needs cgo to build, libcrypto.so.3 to run; else crypto/rsa)
# The openssl pass: after the main run, `make bench` (and bench-smoke, briefly) runs the RSA workloads again
# against a private daemon started from build/keywardd-openssl, into build/bench/results-openssl.{txt,json,png},
# with SoftHSMv2 as the baseline again. BENCH_OPENSSL=auto (the default) runs it when cgo and libcrypto.so.3 are
# there, 1 requires it, 0 skips it (run-bench.sh reads it as KEYWARD_BENCH_OPENSSL);
# BENCH_OPENSSL_WORKLOADS (default rsa) is that pass's -workloads.
# What is measured (docs/performance.md): each workload pre-sized (C_xxxInit + C_xxx with a large enough buffer)
# and, for the single-part ones, also with the length query applications make through miekg/pkcs11 (", length
# query" rows: C_SignInit, C_Sign(NULL), C_Sign(buf)); TLS handshakes/s of `openssl s_server` with the token's
# key through libp11's pkcs11 engine (libengine-pkcs11-openssl; the rows say why when it is missing) and with
# a key file; then the targets of issue 15 item 5, each "met" or "missed" in this run (never a failure).
# Variables: BENCH_DURATION (time per workload per module, default 2s), BENCH_ARGS (more keyward-bench flags, e.g.
# -big for 100k objects, -workloads 'ecdsa|rsa'), BENCH_DIR (default build/bench), BENCH_OPENSSL.
BENCH_DIR      ?= $(BUILD)/bench
BENCH_DURATION ?= 2s
BENCH_ARGS     ?=
BENCH_OPENSSL  ?= auto

.PHONY: bench bench-smoke bench-deps bench-build bench-build-openssl bench-openssl

# Only what the benchmark runs: the client library, the daemon and the tool.
bench-build: $(BUILD)/libkeyward.so
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -o $(BUILD)/ ./cmd/keywardd ./cmd/keyward-bench

bench-build-openssl:
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -tags openssl -o $(BUILD)/keywardd-openssl ./cmd/keywardd

# Builds build/keywardd-openssl when the openssl pass is to run (BENCH_OPENSSL=1, or auto with cgo and
# libcrypto.so.3), and removes a stale one when it is not.
bench-openssl:
	@case "$(BENCH_OPENSSL)" in \
	0) rm -f $(BUILD)/keywardd-openssl ;; \
	1) $(MAKE) --no-print-directory bench-build-openssl ;; \
	auto) if [ "$$($(GO) env CGO_ENABLED)" = 1 ] && \
			{ { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libcrypto\.so\.3 '; } && \
			$(MAKE) --no-print-directory bench-build-openssl; then :; \
		else \
			echo "bench: no cgo or no libcrypto.so.3: the openssl pass is skipped" >&2; rm -f $(BUILD)/keywardd-openssl; \
		fi ;; \
	*) echo "bench: BENCH_OPENSSL is auto, 1 or 0, not '$(BENCH_OPENSSL)'" >&2; exit 1 ;; \
	esac

bench-deps:
	@if [ ! -f /usr/lib/softhsm/libsofthsm2.so ] && ! command -v softhsm2-util >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "bench: SoftHSMv2 is missing: sudo apt-get install softhsm2" >&2; exit 1; \
		fi; \
		echo "bench: apt-get install softhsm2"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends softhsm2 >/dev/null; \
	fi

bench: bench-deps bench-build bench-openssl
	KEYWARD_BENCH_OPENSSL=$(BENCH_OPENSSL) cmd/keyward-bench/run-bench.sh $(BUILD) $(BENCH_DIR) \
		-duration $(BENCH_DURATION) $(BENCH_ARGS)

# CI: a few milliseconds per workload (the TLS rows: a few handshakes each), small object counts, the fast test
# KDF; never a timed assertion. About 14 s here, as before the length-query and TLS rows (they add under 1.5 s).
bench-smoke: bench-deps bench-build bench-openssl
	rm -f $(BENCH_DIR)/smoke/results-openssl.json
	BENCH_KDF=fast KEYWARD_BENCH_OPENSSL=$(BENCH_OPENSSL) cmd/keyward-bench/run-bench.sh $(BUILD) $(BENCH_DIR)/smoke \
		-duration 1ms -objects 10,20 -load-runs 1 -rounds 1 -threads 1,2 $(BENCH_ARGS)
	@grep '^tls rows.*skipped' $(BENCH_DIR)/smoke/results.txt | sed 's/^/bench-smoke: /' >&2 || true
	@grep -q '"results"' $(BENCH_DIR)/smoke/results.json && test -s $(BENCH_DIR)/smoke/results.png && \
		grep -q '^targets (issue 15 item 5)' $(BENCH_DIR)/smoke/results.txt && \
		{ [ ! -x $(BUILD)/keywardd-openssl ] || grep -q '"results"' $(BENCH_DIR)/smoke/results-openssl.json; } && \
		echo "bench-smoke: ok ($(BENCH_DIR)/smoke/results.json$$([ -x $(BUILD)/keywardd-openssl ] && echo ', results-openssl.json'))"
