# Two user-facing commands (see README): `make demo` and `make test`. Each installs what it needs.
# Other targets are for developers and CI.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD ?= build
FMM_DIR ?= $(or $(STRASSENTILE_FMM_DIR),$(abspath ../shared/data/fmm))
CMAKE_FLAGS ?=

.PHONY: demo test build sanitize fuzz clean deps

deps:
	scripts/ensure-deps.sh core

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DSTRASSENTILE_WARNINGS_AS_ERRORS=ON -DSTRASSENTILE_FMM_DIR=$(FMM_DIR) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

## The main job: the exact-algorithm catalogue, verified, and what STL costs against dense.
demo: build
	@echo "== exact algorithms (verified against the matmul tensor) =="
	$(BUILD)/strassentile algorithms --data-dir $(FMM_DIR)
	@echo; echo "== one 16384x4096x4096 layer at <4,4,4>, r=24 =="
	$(BUILD)/strassentile flops 16384 4096 4096 --tile 4 --rank 24

## All tests: C++ (GoogleTest + CLI + fuzz replay through ctest).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

## The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DSTRASSENTILE_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug"

## libFuzzer on both file loaders (clang); FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60
fuzz:
	STRASSENTILE_FMM_DIR=$(FMM_DIR) scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz
