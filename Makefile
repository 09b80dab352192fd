# Gatehouse — one entry point for building, running and testing.
# `make run` starts the embedded default; `make test` runs everything CI runs.

GO        ?= go
BIN       := bin/gatehouse
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 20s
# The e2e tests build the binary themselves; GATEHOUSE_BIN lets them reuse ours.
export GATEHOUSE_BIN := $(CURDIR)/$(BIN)

.PHONY: build run test unit e2e bench fuzz lint services clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gatehouse

## run: build and start `gatehouse serve` on the embedded default (./.gatehouse)
run: build
	./$(BIN) serve

## test: lint, then unit, integration and e2e tests with -race against the
## machine's PostgreSQL and Redis (scripts/services.sh starts or installs them).
test: services lint build
	$(GO) test -race -count=1 -timeout 12m ./...

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: build
	$(GO) test -race -count=1 -timeout 10m ./e2e/...

## bench: keep-alive HTTPS req/s and p50/p99 for direct, bare goproxy MITM and
## Gatehouse, measured in one run, printed with ratios.
bench: services
	$(GO) build -o bin/benchproxy ./internal/benchproxy
	./bin/benchproxy $(BENCHFLAGS)

## fuzz: run every fuzz target for FUZZTIME each (CI runs their seeds in `test`).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

services:
	@bash scripts/services.sh

clean:
	rm -rf bin
