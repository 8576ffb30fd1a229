# Clavis: build, run and check. GNU make; the only tool needed is Go (make test also runs node and npm, and chromium).

GO      ?= go
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.DEFAULT_GOAL := build
.PHONY: run build test lint bench fuzz clean cluster-test

## run: serve the embedded default (SQLite in ./data); nothing else needed
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/clavis serve --dev-login

## build: build bin/clavis (the server and CLI), stamped with git describe (or dev), and bin/clavis-bench (the load generator)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/clavis ./cmd/clavis
	$(GO) build -o bin/clavis-bench ./cmd/clavis-bench

## test: lint, then every test with the race detector (needs PostgreSQL at 127.0.0.1:5432, node and npm for the EventSource test and axe-core, and chromium for the console's browser tests)
test: lint .ci/npm/node_modules
	$(GO) test -race -count=1 -timeout 15m ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

## cluster-test: the cluster test (docs/operations.md) with its long schedule, every fault alone and combined, three times in a row; the figures go to bin/cluster-report.txt
cluster-test:
	$(GO) test -v -count=3 -failfast -timeout 60m -run '^TestCluster$$' ./cmd/clavis -args -cluster.long -cluster.report $(CURDIR)/bin/cluster-report.txt

# The JavaScript clients the tests drive, exactly as package-lock.json pins them.
.ci/npm/node_modules: .ci/npm/package.json .ci/npm/package-lock.json
	npm ci --prefix .ci/npm --no-audit --no-fund
	@touch $@

## lint: fail on unformatted files, then go vet
lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## bench: every benchmark (event store and read models on both backends, decoding, the pipeline, the token path, a node's memory)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./domain/... ./eventstore/... ./projections/... ./http/... ./cmd/...

## fuzz: every fuzz target (each func Fuzz… in a _test.go file), one after another, for FUZZTIME each; an input that fails is saved under its package's testdata/fuzz/<target>/ (make test runs each for FUZZTIME_SHORT)
# make test counts executions rather than time: a -fuzztime that is a
# duration can end a run with a spurious "context deadline exceeded" on
# a loaded machine (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME       ?= 1m
FUZZTIME_SHORT ?= 1000x
fuzz:
	@set -e; mkdir -p bin; cache="$$($(GO) env GOCACHE)/fuzz"; \
	for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		pkg="$$($(GO) list "$$dir")"; \
		$(GO) test -c -fuzz . -o bin/fuzz.test "$$dir"; \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$dir"/*_test.go); do \
			echo "fuzz $$target in $$pkg for $(FUZZTIME)"; \
			(cd "$$dir" && "$(CURDIR)/bin/fuzz.test" -test.run '^$$' -test.fuzz "^$$target\$$" \
				-test.fuzztime $(FUZZTIME) -test.fuzzcachedir "$$cache/$$pkg"); \
		done; \
	done; \
	rm -f bin/fuzz.test

## clean: remove build output (never ./data)
clean:
	rm -rf bin
