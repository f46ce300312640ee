# Thin wrapper over CMake + Ninja. `make demo` and `make test` install what is
# missing (deploy/bootstrap-deps.sh), build, and run.
BUILD ?= build
TYPE  ?= RelWithDebInfo
JOBS  ?= $(shell nproc)

.PHONY: all deps configure build demo test bench clean format

all: build

deps:
	@bash deploy/bootstrap-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(TYPE) -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

SERVE ?=
demo: build
	$(BUILD)/engine/app/cairn demo --data-dir $(BUILD)/demo-data --smtp-sink .tools/postfix/usr/sbin/smtp-sink $(if $(SERVE),--serve --http 127.0.0.1:8080,)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j 2

bench: build
	$(BUILD)/tests/bench/cairn_bench_ingest
	$(BUILD)/tests/bench/cairn_bench_timers
	$(BUILD)/tests/bench/cairn_bench_triggers
	$(BUILD)/tests/bench/cairn_bench_dispatch
	$(BUILD)/tests/bench/cairn_bench_profile
	$(BUILD)/tests/bench/cairn_bench_campaign

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
