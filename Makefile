# Porchlight: `make demo` runs the product, `make test` runs everything that checks it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
NPM    := npm --prefix widget

.PHONY: setup build demo test lint typecheck unit integration e2e system bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Porchlight needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

widget/node_modules/.installed: widget/package.json widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed widget/node_modules/.installed

# The browser bundles (loader, frame, console) into server/static/dist.
build: setup
	$(PY) -m signaling.codegen widget/src/protocol.gen.ts
	$(PY) -m server.rest_codegen widget/src/api.gen.ts
	$(NPM) run --silent build

# coturn runs beside the demo when it is installed (deploy/demo_turn.sh stops it afterwards).
demo: build
	@mkdir -p .porchlight
	deploy/demo_turn.sh $(BIN)/porchlight --database-url sqlite+aiosqlite:///.porchlight/demo.db demo

# Debian's Chromium (browser tests), coturn (TURN tests, calls in the demo) and nginx (the
# deploy/ proxy, run by its tests only: the service Debian starts is stopped): installed when
# missing and we are root; otherwise the tests that need them skip (or fail under CI=true).
system:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v turnserver >/dev/null || missing="$$missing coturn"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    case "$$missing" in *nginx*) systemctl disable --now nginx >/dev/null 2>&1 || true;; esac; \
	  else echo "missing:$$missing (not root): the tests that need them will skip"; fi; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy
	$(NPM) run --silent typecheck

unit: build
	$(BIN)/pytest -q tests/unit

integration: build system
	$(BIN)/pytest -q tests/integration

e2e: build system
	$(BIN)/pytest -q tests/e2e

test: build system lint typecheck
	$(BIN)/pytest -q

bench: build
	$(PY) bench/chat_latency.py

clean:
	rm -rf $(VENV) widget/node_modules server/static/dist .porchlight
