# The two commands a user needs: `make demo` and `make test`. Both set up what is missing first.
VENV ?= .venv
PY := $(VENV)/bin/python
export DISTILHASH_HOME ?= $(CURDIR)/data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup lock demo test test-slow bench-quick bench-full bench-index bench-serve clean

setup:
	@bash scripts/setup.sh

# Re-resolve requirements.lock after a dependency change in pyproject.toml (then commit the lock).
# LOCK_ARGS=--upgrade moves every package to its newest version; see scripts/lock.sh.
lock:
	@bash scripts/lock.sh $(LOCK_ARGS)

# The demo records each step's time in $(DISTILHASH_HOME)/demo-timings.json, setup's too.
demo:
	@t0=$$(date +%s); bash scripts/setup.sh && DEMO_SETUP_SECONDS=$$(( $$(date +%s) - t0 )) $(VENV)/bin/distilhash demo run

test: setup
	@$(PY) -m pytest -q

test-slow: setup
	@$(PY) -m pytest -q -m slow

bench-quick: setup
	@$(VENV)/bin/distilhash bench quick

bench-full: setup
	@$(VENV)/bin/distilhash bench full

bench-index: setup
	@$(PY) bench/index_speed.py

bench-serve: setup
	@$(PY) bench/serve_load.py --model $(DISTILHASH_HOME)/runs/demo-dcmq64

clean:
	rm -rf $(VENV) .venv-lock .pytest_cache
