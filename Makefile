# Sluice — passive ICS monitoring. `make help` lists the targets.
GO        ?= go
BIN       ?= bin/sluice
PKGS      ?= ./...
export CGO_ENABLED ?= 0

# Tools the test suite drives as real peers: Wireshark's decoders (decode oracle),
# a real Modbus master, a packet recorder, a syslog collector with its TLS
# driver (the syslog sink's interop tests) and logrotate (the shipped snippet
# is run by TestDeployLogrotate). Installed from Debian when missing.
# Each entry is FILE:PACKAGE, FILE a command or an absolute path the package installs.
APT_TOOLS := tshark:tshark mbpoll:mbpoll tcpdump:tcpdump logrotate:logrotate \
	/usr/sbin/rsyslogd:rsyslog /usr/lib/$(shell uname -m)-linux-gnu/rsyslog/lmnsd_ossl.so:rsyslog-openssl
NODE_DIR  := .tools/node
# The fleet tests run real NATS servers (a 3-node JetStream cluster among
# them): the pinned release, built from the Go module proxy into .tools/bin.
NATS_SERVER_VERSION := v2.15.3
NATS_SERVER := .tools/bin/nats-server

.PHONY: help build test test-go tools bench fuzz lint demo testdata detection same clean

help:
	@echo "make demo       run Sluice on the embedded simulator (no plant needed)"
	@echo "make test       install test peers if missing, then run the whole test suite"
	@echo "make build      build the static binary $(BIN)"
	@echo "make bench      benchmarks (packets/s, allocations, RSS; Modbus and DNP3) incl. tshark side by side"
	@echo "make fuzz       run every fuzz target for FUZZTIME (default 30s each), then a summary; exit 1 if any failed"
	@echo "make lint       gofmt + go vet"
	@echo "make testdata   regenerate testdata/ captures from the simulator"
	@echo "make detection  learn on normal traffic, monitor each attack scenario, print the table"
	@echo "make same REF=C compare every output byte with commit C's (captures, both event modes, learn/monitor, export)"

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/sluice

# tools installs what the tests need from Debian and npm, only what is missing.
tools:
	@missing=""; for t in $(APT_TOOLS); do cmd=$${t%%:*}; pkg=$${t##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -e "$$cmd" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	  echo "warning: could not install$$missing; tests that need them will skip"; \
	fi
	@[ -x $(NATS_SERVER) ] || { echo "installing nats-server $(NATS_SERVER_VERSION)"; \
	  GOBIN=$(CURDIR)/.tools/bin CGO_ENABLED=0 $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION) || \
	  echo "warning: could not install nats-server; fleet tests will skip"; }
	@if command -v npm >/dev/null 2>&1 && [ ! -d $(NODE_DIR)/node_modules/node-opcua ]; then \
	  mkdir -p $(NODE_DIR) && cd $(NODE_DIR) && \
	  ( [ -f package.json ] || npm init -y >/dev/null ) && \
	  npm install --silent --no-audit --no-fund node-opcua@2 >/dev/null 2>&1 || \
	  echo "warning: could not install node-opcua; OPC UA interop tests will skip"; \
	fi

test: tools test-go

# The rsyslog interop tests (internal/syslog) run first, alone: on a
# loaded machine (the simulator's and the agent's tests beside them) a
# starved rsyslogd hung up on its TLS clients and a kill raced the
# sender's check of its connection, losing alerts that TCP syslog cannot
# acknowledge. The rest then runs as usual.
SYSLOG_PKG := ./internal/syslog
test-go:
	$(GO) test -count=1 -timeout 5m $(SYSLOG_PKG)
	$(GO) test -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v '/internal/syslog$$')

bench: build
	$(GO) run ./internal/benchtool
	$(GO) test -run '^$$' -bench 'RsyslogTCP|SensorJetStreamR3' -benchtime 100000x ./internal/syslog ./internal/fleet

# fuzz: every target, even after one fails; a summary at the end (targets
# run, passed, failed by name) and exit 1 if any failed. scripts/fuzz.sh.
FUZZTIME ?= 30s
fuzz:
	@GO=$(GO) scripts/fuzz.sh $(FUZZTIME)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

demo: build
	./$(BIN) demo

testdata:
	$(GO) run ./cmd/sluice sim testdata testdata/

detection:
	$(GO) test -count=1 -run TestDetection -v ./agent/

clean:
	rm -rf bin .tools

# same: this tree's output against commit REF's, byte for byte (a refactoring
# changes no output): every capture in both event modes, learn then monitor,
# baseline export. make same REF=301891f
same:
	@test -n "$(REF)" || (echo "usage: make same REF=<commit>"; exit 2)
	scripts/same.sh $(REF)
