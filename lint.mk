# Review gates, included from the top Makefile: `make lint` (run by `make test`).
#   gofmt      no file gofmt would change
#   go vet     the standard checks
#   staticcheck  honnef.co/go/tools at a pinned version (staticcheck.conf lists what is switched off and why)
#   race       go test -race on the packages with shared state (engine, daemon, wire, store, client)
#   analyzer   the C client under gcc -fanalyzer, warnings as errors
STATICCHECK_VERSION ?= v0.8.2
RACE_PKGS ?= ./internal/engine/... ./internal/daemon/... ./internal/wire/... ./internal/store/... ./pkg/client/...

.PHONY: lint lint-go lint-race lint-c

lint: lint-go lint-c lint-race

lint-go:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

lint-race: build
	KEYWARD_BUILD=$(CURDIR)/$(BUILD) $(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)

lint-c:
	@mkdir -p $(BUILD)/analyzer
	@for f in $(CLIENT_SRC); do \
		echo "gcc -fanalyzer $$f"; \
		$(CC) $(CSTD) $(CWARN) -fanalyzer -fPIC -Iinclude -Iinternal/wire -c $$f -o $(BUILD)/analyzer/$$(basename $$f .c).o || exit 1; \
	done
