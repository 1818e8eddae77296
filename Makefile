# auditfn — see README.md. Needs only Go and the PostgreSQL server binaries;
# everything else (MinIO) is built into .local/ on first use.
GO        ?= go
LOCALSTACK = .local/bin/localstack
PKG_TIMEOUT ?= 15m

.PHONY: up down run test bench fuzz lint build catalog

build:
	$(GO) build ./...

# Rebuilt every time (go build is incremental): the binary embeds the
# migrations and shared packages, which a list of files here would miss.
.PHONY: $(LOCALSTACK)
$(LOCALSTACK):
	$(GO) build -o $(LOCALSTACK) ./cmd/localstack

## up: start (or reuse) local PostgreSQL and MinIO, migrate, write .local/stack.env
up: $(LOCALSTACK)
	$(LOCALSTACK) up

## down: stop them
down: $(LOCALSTACK)
	$(LOCALSTACK) down

## catalog: load infra/catalog (or CATALOG=dir) into the local database
CATALOG ?= infra/catalog
catalog: up
	AUDITFN_PG_ADMIN_DSN=$$(sed -n 's/^AUDITFN_PG_ADMIN_DSN=//p' .local/stack.env) $(GO) run ./cmd/catalogload $(CATALOG)

## run: the whole system locally, in the foreground (Ctrl-C stops it)
run: catalog
	$(GO) run ./cmd/localrun

## test: lint, then every test against a real PostgreSQL and MinIO it starts and stops
test: lint $(LOCALSTACK)
	$(LOCALSTACK) up
	status=0; $(GO) test -count=1 -timeout $(PKG_TIMEOUT) ./... || status=$$?; \
	(cd test/interop && $(GO) test -count=1 -timeout $(PKG_TIMEOUT) ./...) || status=$$?; \
	$(LOCALSTACK) down; exit $$status

## bench: benchmarks and load generators, printing figures
bench: up
	$(GO) test -run '^$$' -bench . -benchmem ./shared/emitter/ ./functions/collector/ ./shared/catalog/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./test/bench/...
	cd test/interop && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

## compact: one archive compaction against the local stack (.local/stack.env)
.PHONY: compact
compact: up
	$(GO) run ./cmd/compact

## verify: integrity of the local hot chain, archive and head checkpoint;
## ARCHIVE=dir verifies a downloaded archive instead (no database needed);
## BUNDLE=file an export bundle, with the public key KEY (default the local one)
.PHONY: verify
KEY ?= .local/archive/public.pem
verify: $(LOCALSTACK)
ifdef BUNDLE
	$(GO) run ./cmd/auditfn verify-bundle -key $(KEY) $(BUNDLE)
else ifdef ARCHIVE
	$(GO) run ./cmd/verify -archive $(ARCHIVE)
else
	$(LOCALSTACK) up >/dev/null
	set -a; . .local/stack.env; set +a; $(GO) run ./cmd/verify
endif

## fuzz: run each fuzzer for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzFromCloudEvent$$' -fuzztime $(FUZZTIME) ./shared/auditevent/
	$(GO) test -run '^$$' -fuzz '^FuzzCanonicalStringMatchesJCS$$' -fuzztime $(FUZZTIME) ./shared/integrity/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./functions/collector/
	$(GO) test -run '^$$' -fuzz '^FuzzMatchesJCS$$' -fuzztime $(FUZZTIME) ./shared/canonjson/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./shared/discovery/
	$(GO) test -run '^$$' -fuzz '^FuzzReview$$' -fuzztime $(FUZZTIME) ./functions/blockclear/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEvents$$' -fuzztime $(FUZZTIME) ./functions/query/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./shared/catalog/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./shared/eventauth/
	$(GO) test -run '^$$' -fuzz '^FuzzMapLeaves$$' -fuzztime $(FUZZTIME) ./shared/integrity/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRedaction$$' -fuzztime $(FUZZTIME) ./shared/bundle/
	$(GO) test -run '^$$' -fuzz '^FuzzBundle$$' -fuzztime $(FUZZTIME) ./shared/verify/
	$(GO) test -run '^$$' -fuzz '^FuzzTilePath$$' -fuzztime $(FUZZTIME) ./shared/tlog/

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd test/interop && $(GO) vet ./...
