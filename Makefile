# carecoord: `make demo` runs the platform on an embedded PostgreSQL; `make test` runs the tests.
SHELL := /bin/bash
PORT ?= 8000
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/carecoord/core/static/vendor
PYTEST_ARGS ?=

.PHONY: setup deps assets migrate demo serve worker test test-fast bench lint clean uv

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

deps: uv
	$(UV) sync --frozen

$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/nhsuk $(VENDOR)/htmx $(VENDOR)/vega
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css $(VENDOR)/nhsuk/
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js $(VENDOR)/nhsuk/
	cp -r node_modules/nhsuk-frontend/dist/nhsuk/assets $(VENDOR)/nhsuk/assets
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp node_modules/vega/build/vega.min.js node_modules/vega-lite/build/vega-lite.min.js \
	   node_modules/vega-embed/build/vega-embed.min.js $(VENDOR)/vega/
	touch $@

assets: $(VENDOR)/.stamp

setup: deps assets migrate

migrate: deps
	$(BIN)/carecoord migrate --noinput

demo: setup
	$(BIN)/carecoord synth --seed 1 --scale demo --if-empty
	$(BIN)/carecoord serve --with-worker --with-feed --port $(PORT)

serve:
	$(BIN)/carecoord serve --port $(PORT)

worker:
	$(BIN)/carecoord worker

test: deps assets
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-fast: deps assets
	$(BIN)/pytest -n 2 -m "not browser and not slow" $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do n=$$(basename $$b .py); case $$n in _*) continue;; esac; \
	  echo "== bench/$$n"; $(BIN)/python -m bench.$$n || exit 1; done

lint: deps
	$(BIN)/ruff check src tests bench

clean:
	-$(BIN)/carecoord db stop
	rm -rf $(VENV) node_modules $(VENDOR) var
