# GT: `make run` trains the example MLP on the embedded worker, `make test` runs the tests.
# Both install what they need first (torch only when none is installed: 2.13.0 is the CPU build).
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: setup run test bench clean

setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	@$(PYTHON) -c "import numpy, pytest, yaml" 2>/dev/null || $(PIP) install -q numpy pytest pyyaml
	@$(PYTHON) -c "import zmq, msgspec" 2>/dev/null || $(PIP) install -q pyzmq msgspec
	$(PIP) install -q --no-build-isolation --no-deps -e .

run: setup
	$(PYTHON) examples/train_mlp_gt.py

test: setup
	$(PYTHON) -m pytest -q tests

bench: setup
	@$(PYTHON) -c "import matplotlib" 2>/dev/null || $(PIP) install -q matplotlib
	$(PYTHON) benchmarks/bench_hotpath.py
	$(PYTHON) benchmarks/bench_mlp.py
	$(PYTHON) benchmarks/bench_client.py
	$(PYTHON) benchmarks/bench_remote.py

clean:
	rm -rf build *.egg-info gt/worker/*.so
