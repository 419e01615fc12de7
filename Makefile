# The two commands a new machine needs: `make demo` (set up and run a local stack) and
# `make test` (set up and run every check CI runs). Both install what is missing first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := redis-server sip-tester debootstrap chromium

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

# Browser libraries (SIP.js for browser VoIP), pinned in package-lock.json; the chat
# service serves them from node_modules.
node-deps:
	@command -v npm >/dev/null || { echo "installing nodejs npm"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error

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
	rm -rf $(VENV) build *.egg-info
