# edgeway: the entry points a user and CI rely on. Each sets up what it needs first.
#   make demo    broker, simulated fleet, gateway and live view on the embedded default
#   make test    the whole suite (unit, fuzz corpora, integration with a real mosquitto)
#   make bench   benchmarks, with the seed's Python and a bare subscriber measured in the same run
#   make nab     the anomaly detector's NAB scores, and what it catches of injected sensor faults
JOBS ?= 2
DEMO_ARGS ?= --duration 120

.PHONY: all deps build test demo bench nab fuzz clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

test: deps
	@cmake --preset ci >/dev/null
	@cmake --build --preset ci -j $(JOBS)
	@ctest --preset ci -j $(JOBS)

demo: build
	build/release/edgeway demo $(DEMO_ARGS)

bench: build
	@scripts/bench

# The streaming detector on the NAB corpus beside the project, scored by edgeway's NAB scorer;
# then both detectors on series with known faults injected (bench/events.py).
NAB_DATA ?= ../shared/data/nab
nab: build
	build/release/edgeway nab --data $(NAB_DATA) --json build/nab.json
	@echo
	@python3 bench/events.py --edgeway build/release/edgeway
	@echo
	@python3 bench/events.py --edgeway build/release/edgeway --glitch 1000 --glitch-at 1500 2000

# Coverage-guided fuzzing with libFuzzer (clang); FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@scripts/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build
