# The two commands that do everything on a fresh machine (see README.md):
#   make demo   set up, build, run the main job on the built-in default config
#   make test   set up, build, run the test suite (gpu-labelled tests only where a GPU is visible)
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
WM := $(BUILD)/wm

.PHONY: all setup configure build test demo bench fuzz clean

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@if $(WM) --version | grep -q 'GPUs visible: [1-9]'; then labels=""; \
	 else labels="-LE gpu"; echo "make test: no GPU visible, tests labelled gpu are not run"; fi; \
	 cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $$labels

# The main job: the whole loop on the built-in driving game (collect, tokenizer, dynamics,
# policy in imagination, evaluation), ending with the policy against random and the expert.
# Run again, it resumes where it stopped (or starts over after `rm -rf runs/demo`).
demo: build
	@$(WM) --version
	@$(WM) train all --config configs/demo.yaml

bench: build
	@$(WM) bench gemm --json

# libFuzzer on the parsers (config, .npy, actions CSV, token dump, checkpoint), each for
# FUZZ_SECONDS; clang, ASan and UBSan, in build-fuzz/ (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60
fuzz: build
	@scripts/fuzz.sh --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-fuzz
