# wirekeeper's build. `make test` needs root on Debian 12: it installs and
# starts the real servers its integration tests use (scripts/test-servers.sh).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export GOFLAGS ?= -mod=mod

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/wirekeeper

# staticcheck's and govulncheck's versions for make lint; how long make fuzz
# runs each fuzzer.
STATICCHECK ?= v0.8.2
GOVULNCHECK ?= v1.1.4
FUZZTIME ?= 30s

# Packages with goroutines of their own, tested with the race detector too.
RACE_PKGS := ./spec/... ./internal/testenv/... ./internal/ovsdbserver/... ./internal/ovs/... ./internal/workerset/... ./reconciler/... ./providers/... ./examples/... ./cmd/...

.PHONY: all build test test-unit test-integration bench generate lint chaos fuzz demo clean

all: build

build: ## static binary in bin/
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/wirekeeper

# The fault-injection suite and the fleet simulation load the machine (20
# daemons, killed servers): they run last, one after the other, so that the
# timing of the other packages' tests is not theirs.
test: lint ## every test, against real servers started for the run
	scripts/test-servers.sh run -- env WIREKEEPER_REQUIRE_INTEGRATION=1 \
		bash -c 'go test -count=1 $$(go list ./... | grep -v -e /test/chaos -e /test/fleet) && \
			go test -count=1 -race $(RACE_PKGS) && go test -count=1 -p 1 -timeout 30m ./test/chaos/ ./test/fleet/'

test-unit: ## tests that need no server (integration tests skip)
	go test ./...

bench: ## benchmarks, against real servers started for the run (figures in docs/benchmarks.md)
	scripts/test-servers.sh run -- env WIREKEEPER_REQUIRE_INTEGRATION=1 bash -c '\
		go test -run "^$$" -bench . -benchmem ./spec/ && \
		go test -run "^$$" -bench SteadyStatePass10k -benchtime 50x ./reconciler/ && \
		go test -run "^$$" -bench PushToApplied -benchtime 100x ./reconciler/daemon/ && \
		go test -run "^$$" -bench ConcurrentWriters50 -benchtime 3x ./reconciler/status/ && \
		go test -run "^$$" -bench Fold1000 -benchtime 10x ./reconciler/status/ && \
		go test -run "^$$" -bench "IdleSpecFetch|StatusPush|IdleFold" -benchtime 20x ./reconciler/daemon/ && \
		go test -run "^$$" -bench FetchLoad1000 -benchtime 20x ./reconciler/source/ && \
		go test -run "^$$" -bench IdlePollHistory -benchtime 200x ./reconciler/source/ && \
		go test -run "^$$" -bench PlanBehind100 -benchtime 10x ./cmd/wirekeeper/ && \
		go test -run "^$$" -bench FleetStatus -benchtime 1x -timeout 120m ./test/fleet/ && \
		go test -run "^$$" -bench DriftRepair -benchtime 200x ./providers/ovsdb/ && \
		go test -run "^$$" -bench Converge -benchtime 1x -timeout 30m ./providers/ovsdb/ && \
		go test -run "^$$" -bench Diff10k -benchtime 3x -timeout 30m ./providers/ovsdb/ && \
		go test -run "^$$" -bench Import1000Mirrors -benchtime 5x ./internal/importer/ && \
		go test -run "^$$" -bench ImportDiff10k -benchtime 5x -timeout 30m ./cmd/wirekeeper/ && \
		go test -run "^$$" -bench "Plug100|StartToConfigured" -benchtime 1x -timeout 30m ./providers/container/ && \
		go test -run "^$$" -bench DriftRepair -benchtime 50x ./providers/container/ && \
		go test -run "^$$" -bench Sync10k -benchtime 1x ./providers/collector/inventory/ && \
		go test -run "^$$" -bench PublishConfirmed -benchtime 1x ./providers/collector/amqp/ && \
		go test -run "^$$" -bench Backfill1000 -benchtime 1x -timeout 30m ./providers/collector/ && \
		go test -run "^$$" -bench Sync10k -benchtime 10x ./providers/skydive/ && \
		go test -run "^$$" -bench MirrorToAnalyzer -benchtime 100x -timeout 30m ./providers/skydive/'

generate: ## regenerate schemas/ from the spec types and the OVSDB models from the vswitch schema
	go run ./internal/schemagen/cmd/schemagen -out schemas -reference docs/spec-reference.md
	go generate ./internal/ovs/vswitch

# staticcheck runs at a pinned version through the module proxy, so a machine
# with only Go installed runs it; any finding fails the target.
lint: ## gofmt, go vet, staticcheck, and govulncheck when its database is reachable
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...
	@# Only when its database answers (it is not reachable from every CI
	@# machine); v1.1.4: later versions need an x/telemetry the proxy refuses.
	@if timeout 5 bash -c '</dev/tcp/vuln.go.dev/443' 2>/dev/null; then \
		go run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK) ./...; \
	else echo "govulncheck: SKIPPED, its vulnerability database (vuln.go.dev) is unreachable from here"; fi

chaos: ## the fault-injection suite at full length (50 kills), with the servers started for it
	scripts/test-servers.sh run -- env WIREKEEPER_REQUIRE_INTEGRATION=1 WIREKEEPER_CHAOS=full \
		go test -count=1 -v -timeout 30m ./test/chaos/ ./test/fleet/

fuzz: ## run each fuzzer for FUZZTIME (default 30s)
	go test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./spec/
	go test -run '^$$' -fuzz FuzzAliasBudget -fuzztime $(FUZZTIME) ./spec/
	go test -run '^$$' -fuzz FuzzResolve -fuzztime $(FUZZTIME) ./internal/secret/
	go test -run '^$$' -fuzz FuzzHandler -fuzztime $(FUZZTIME) ./reconciler/webhook/
	go test -run '^$$' -fuzz FuzzResponses -fuzztime $(FUZZTIME) ./providers/collector/netbeam/
	go test -run '^$$' -fuzz FuzzPythonString -fuzztime $(FUZZTIME) ./providers/collector/

demo: build ## the main job on embedded defaults
	$(BIN) demo

clean:
	rm -rf bin
