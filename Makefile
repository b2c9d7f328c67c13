# The verbs people type. CMake does the building underneath (see CMakeLists.txt).
#   make          build everything into build/
#   make run      install deps, build, start the platform (llmq up)
#   make test     install deps, build, run every test (+ the e2e suite under ASan/UBSan)
#   make bench    run the benchmarks, write docs/BENCHMARKS.md
#   make asan     build into build-asan/ with AddressSanitizer + UBSan
#   make fuzz     build libFuzzer targets with clang into build-fuzz/
#   make cuda     build with the CUDA backend into build-cuda/ (needs nvcc, not a GPU)
#   make gpu-check  on a GPU machine: CUDA build, CUDA-vs-CPU tests, bench (scripts/gpu-check)
JOBS   ?= $(shell nproc)
BUILD  ?= build
CMAKE_FLAGS ?=
PORT   ?= 8000
MODEL  ?=
UP_ARGS ?=

.PHONY: all deps build run test test-fast asan test-asan cuda test-cuda gpu-check bench fuzz clean
all: build

deps:
	@scripts/deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: deps build
	@scripts/run $(BUILD)/bin --port $(PORT) $(UP_ARGS)

# Everything: unit, integration, engine, fuzz replay, deploy and e2e tests, then the e2e
# suite once more under AddressSanitizer + UndefinedBehaviorSanitizer.
test: deps
	@$(MAKE) --no-print-directory build CMAKE_FLAGS="-DLLMQ_WERROR=ON $(CMAKE_FLAGS)"
	@cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-cuda

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j 2 -LE 'slow'

asan:
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DLLMQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

test-asan: asan
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2 -L 'asan' --timeout 600

# Where nvcc exists (no GPU needed), keep the CUDA backend compiling and check its kernels on
# the host (dequantization bit-exact, the whole backend under a CPU emulation of CUDA); the
# CUDA-vs-CPU test on a real device skips here with its reason.
NVCC ?= $(or $(shell command -v nvcc),$(wildcard /usr/local/cuda/bin/nvcc))
cuda:
	@$(MAKE) --no-print-directory build BUILD=build-cuda CMAKE_FLAGS="-DLLMQ_CUDA=ON -DLLMQ_WERROR=ON"

test-cuda:
	@if [ -n "$(NVCC)" ]; then \
	  $(MAKE) --no-print-directory cuda && cd build-cuda && ctest --output-on-failure -j 2 -R cuda --timeout 600; \
	else echo "test-cuda: no nvcc here; CUDA backend not built (skipped)"; fi

gpu-check:
	@scripts/gpu-check

bench: deps build
	@scripts/bench $(BUILD)/bin

fuzz:
	@CC=clang $(MAKE) --no-print-directory build BUILD=build-fuzz CMAKE_FLAGS="-DLLMQ_FUZZ=ON -DLLMQ_SANITIZE=ON"

clean:
	rm -rf build build-asan build-fuzz
