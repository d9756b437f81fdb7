# make demo   build the demo data, train UHDFour on it, evaluate, write enhanced images
# make test   run the test suite
# Both create (or reuse) a virtualenv in .venv and install what they need. Paddle is installed
# only when none is importable: PADDLE=paddlepaddle-gpu make test picks the GPU build.
PYTHON ?= python3
VENV ?= .venv
PADDLE ?= paddlepaddle==3.3.1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ppuhd-installed
DEMO_CFG := configs/uhdfour/uhdfour_demo.yml
DEMO_OUT := output/uhdfour_demo

.PHONY: install demo test clean-demo

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv --system-site-packages $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt setup.py
	@$(PY) -c "import paddle" 2>/dev/null || $(PY) -m pip install -q "$(PADDLE)"
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/make_demo_data.py --output data/demo
	$(PY) tools/train.py -c $(DEMO_CFG) --resume auto
	$(PY) tools/eval.py -c $(DEMO_CFG) --weights $(DEMO_OUT)/best_model.pdparams
	$(PY) tools/infer.py -c $(DEMO_CFG) --weights $(DEMO_OUT)/best_model.pdparams \
		--input data/demo/testing_set/input --output $(DEMO_OUT)/enhanced --side-by-side

test: $(STAMP)
	$(PY) -m pytest -q tests

clean-demo:
	rm -rf $(DEMO_OUT)

# make bench   latency / throughput / peak memory of every backend (docs/benchmarks.md); add the
#              official PyTorch UHDFour with BENCH_ARGS="--peer /path/to/UHDFour_code"
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP)
	$(PY) deploy/python/benchmark.py $(BENCH_ARGS)
