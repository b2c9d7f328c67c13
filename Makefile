# The verbs people type. CMake does the building underneath (see CMakeLists.txt).
#   make          build everything into build/
#   make run      install deps, build, start the platform (llmq up)
#   make test     install deps, build, run every test (+ the e2e suite under ASan/UBSan)
#   make bench    run the benchmarks, write docs/BENCHMARKS.md
#   make asan     build into build-asan/ with AddressSanitizer + UBSan
#   make fuzz     build libFuzzer targets with clang into build-fuzz/
JOBS   ?= $(shell nproc)
BUILD  ?= build
CMAKE_FLAGS ?=
PORT   ?= 8000
MODEL  ?=
UP_ARGS ?=

.PHONY: all deps build run test test-fast asan test-asan bench fuzz clean
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

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j 2 -LE 'slow'

asan:
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DLLMQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

test-asan: asan
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2 -L 'asan' --timeout 600

bench: deps build
	@scripts/bench $(BUILD)/bin

fuzz:
	@CC=clang $(MAKE) --no-print-directory build BUILD=build-fuzz CMAKE_FLAGS="-DLLMQ_FUZZ=ON -DLLMQ_SANITIZE=ON"

clean:
	rm -rf build build-asan build-fuzz
