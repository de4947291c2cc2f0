# docbot: `make run` sets everything up and runs the bot; `make test` sets up and runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch 2.13.0 CPU build. On machines whose pip would otherwise pick a CUDA build, set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (see README).
TORCH_INDEX ?=
TORCH_PIP_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
# llama-cpp-python is built from source; a portable build runs on any x86-64 CPU.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test lint typecheck unit audit soak model bench clean setup setup-dev

run: $(VENV)/.stamp-run
	$(BIN)/docbot run

test: $(VENV)/.stamp-dev lint typecheck unit audit

setup: $(VENV)/.stamp-run
setup-dev: $(VENV)/.stamp-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first: a plain `pip install sentence-transformers` would pull a multi-GB CUDA build.
$(VENV)/.stamp-torch: | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	touch $@

$(VENV)/.stamp-run: pyproject.toml $(VENV)/.stamp-torch
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e ".[llamacpp]"
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-torch
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e ".[llamacpp,dev]"
	touch $@ $(VENV)/.stamp-run

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy

unit: $(VENV)/.stamp-dev
	$(BIN)/pytest

# Known vulnerabilities in the installed dependencies fail the build; when the vulnerability service cannot
# be reached it says so in one line and the build goes on (see docs/reliability.md).
audit: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.audit_deps $(AUDIT_ARGS)

# The long reliability runs (tests marked soak: kill -9 trials, floods, fuzzing, huge PDFs); under 20 min.
soak: $(VENV)/.stamp-dev
	$(BIN)/pytest -m soak -p no:cacheprovider -s --durations=0

# The benchmarks against the tutorial's pipeline (not part of `make test`; under 30 min on 2 cores):
# regenerates bench/results/*.json, docs/benchmarks.md and docs/benchmarks.png. BENCH_ARGS="--parts
# retrieval,quality" or "--quick" for a subset or a smoke run.
bench: $(VENV)/.stamp-dev
	$(BIN)/python -c "import matplotlib" 2>/dev/null || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e ".[llamacpp,dev,bench]"
	$(BIN)/python -m bench $(BENCH_ARGS)

model: $(VENV)/.stamp-run
	$(BIN)/python -m models.download $(if $(QUANT),--quant $(QUANT),)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
