# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
AZURITE_VERSION := 3.37.0
AZURITE := .tools/node_modules/.bin/azurite-table

.PHONY: run test lint format chromium azurite bench soak sdk-client-tests proto clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

local.settings.json:
	cp local.settings.example.json local.settings.json

## run: start the Web PubSub emulator (8080) and the dev host (7071) with the demo page and the dev identity provider
run: $(STAMP) local.settings.json
	$(PY) -m devhost.stack --dev-identity

## chromium: Debian's browser for the browser test (Playwright cannot download one here)
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Debian's chromium (sudo apt-get install chromium) for the browser test." >&2; exit 1; fi; }

## azurite: Microsoft's Storage emulator (table service) for the idempotency-key tests; needs npm
azurite: $(AZURITE)

$(AZURITE):
	@command -v npm >/dev/null || { echo "Install Node.js and npm (sudo apt-get install npm) for the Azurite tests." >&2; exit 1; }
	npm install --silent --no-audit --no-fund --prefix .tools azurite@$(AZURITE_VERSION)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

## test: lint, then the whole suite (unit, emulator, dev host, end to end, browser)
test: $(STAMP) chromium azurite lint
	$(PY) -m pytest

bench: $(STAMP) azurite
	$(PY) -m bench

soak: $(STAMP) azurite
	$(PY) -m pytest tests/reliability --soak

## proto: regenerate the emulator's protobuf code from the service's published .proto (committed;
## tests/emulator/test_protobuf_frames.py checks that it is current)
proto: $(STAMP)
	cd emulator/proto && ../../$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. webpubsub_v1.proto

## sdk-client-tests: Microsoft's own sync-client tests, as shipped, ten times against the emulator
## (not in `make test`: they race inside the client; see emulator/README.md)
sdk-client-tests: $(STAMP)
	$(PY) -m tests.emulator.azure_sdk_client_tests 10

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .tools
