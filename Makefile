# The two commands a new machine needs: `make demo` (set up and run a local stack) and
# `make test` (set up and run every check CI runs). Both install what is missing first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := redis-server redis-tools redis-sentinel sip-tester debootstrap chromium fonts-noto-color-emoji postgresql

.PHONY: deps system-deps venv node-deps sandbox lint test demo clean

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root for apt-get: run 'sudo make $(MAKECMDGOALS)'"; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(PY):
	python3 -m venv $(VENV) || { apt-get install -y -q python3-venv && python3 -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)
	$(PY) -m pip install -q -e '.[test]'

# Browser libraries from the npm registry (package.json, pinned by package-lock.json): the
# chart library and SIP.js (browser VoIP) the chat service serves, axe-core for the
# accessibility checks in the tests.
# node_modules/ is never committed; npm comes with Node.js (Debian's `npm` where missing).
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "need npm: run 'sudo make $(MAKECMDGOALS)'"; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm; }
	npm ci --no-audit --no-fund --ignore-scripts

node-deps: node_modules/.package-lock.json

sandbox: venv
	$(VENV)/bin/implus sandbox asterisk up

deps: system-deps venv node-deps

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: deps sandbox lint
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

demo: deps sandbox
	$(VENV)/bin/implus up

clean:
	rm -rf $(VENV) build *.egg-info node_modules
