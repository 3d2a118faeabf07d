# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
AZURITE_VERSION := 3.37.0
AZURITE := .tools/node_modules/.bin/azurite-table

.PHONY: help run queue test lint format chromium azurite bench soak sdk-client-tests proto clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

local.settings.json:
	cp local.settings.example.json local.settings.json

# Other ports, given on the command line (a PORT in the environment is not taken): make run PORT=7072 EMULATOR_PORT=8081
RUN_PORTS = $(if $(filter command line,$(origin PORT)),--port $(PORT)) \
	$(if $(filter command line,$(origin EMULATOR_PORT)),--emulator-port $(EMULATOR_PORT))

## run: start the Web PubSub emulator (8080), Azurite (queues 10001, tables 10002) and the dev host (7071) with the demo page, the dev identity provider and the events function as the hub's event handler; other ports: make run PORT=7072 EMULATOR_PORT=8081
run: $(STAMP) local.settings.json $(AZURITE)
	$(PY) -m devhost.stack --dev-identity $(strip $(RUN_PORTS))

## queue: print the client events waiting on make run's queue, as the app's back-end services would receive them (TAKE=1 also removes them)
queue: $(STAMP)
	$(PY) -m devtools.queue_peek $(if $(TAKE),--take)

## chromium: Debian's browser for the browser test (Playwright cannot download one here)
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Debian's chromium (sudo apt-get install chromium) for the browser test." >&2; exit 1; fi; }

## azurite: Microsoft's Storage emulator (table and queue services) for make run, the idempotency-key and events tests; needs npm
azurite: $(AZURITE)

$(AZURITE):
	@command -v npm >/dev/null || { echo "Install Node.js and npm (sudo apt-get install npm) for Azurite (make run's storage, and the tests)." >&2; exit 1; }
	npm install --silent --no-audit --no-fund --prefix .tools azurite@$(AZURITE_VERSION)

## lint: ruff check (with complexity and length limits), ruff format --check and mypy (strict for product code, non-strict for the dev tools): the first step of make test
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy emulator devhost devtools bench

## format: apply ruff's fixes and formatting
format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

## test: lint, then the whole suite (unit, emulator, dev host, end to end, browser)
test: $(STAMP) chromium azurite lint
	$(PY) -m pytest

## bench: the benchmarks against same-run baselines, about 7 minutes (docs/benchmarks.md)
bench: $(STAMP) azurite
	$(PY) -m bench

## soak: the reliability suite at full size, about 6 minutes (docs/reliability.md)
soak: $(STAMP) azurite
	$(PY) -m pytest tests/reliability --soak

## proto: regenerate the emulator's protobuf code from the service's .proto (committed; a test checks it is current)
proto: $(STAMP)
	cd emulator/proto && ../../$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. webpubsub_v1.proto

## sdk-client-tests: Microsoft's own sync-client tests as shipped, ten runs (not in make test: they race inside the client)
sdk-client-tests: $(STAMP)
	$(PY) -m tests.emulator.azure_sdk_client_tests 10

## clean: remove .venv, .tools (Azurite) and the pytest, ruff and hypothesis caches
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .tools

## help: list every target with what it does
help:
	@awk '/^## [a-z][a-z-]*: / { line = substr($$0, 4); cut = index(line, ": "); \
	  printf "  make %-9s %s\n", substr(line, 1, cut - 1), substr(line, cut + 2) }' $(firstword $(MAKEFILE_LIST))
