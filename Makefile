# make test   - create .venv if missing, install the package with its extras, run the fast test suite
# make quick  - one 3-epoch AlexNet extractor run (CPU minutes)     make quick ARGS="data.root=DIR arch.weights=DIR"
# make sweep  - the assignment's 3x3 study, experiment=study (a GPU job)  make sweep ARGS="trainer=gpu ..."
# make lint / make tensorboard / make test-full (adds the slow real-data tests; what .ci/run runs)
#
# ARGS are Hydra overrides appended to the command. TL_DATA_DIR and TL_WEIGHTS (environment) set the default
# data.root and arch.weights. CPU-only machine: make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# installs torch's CPU wheels (about 1 GB instead of the 6 GB CUDA build pip picks by default).
VENV ?= .venv
PY := $(VENV)/bin/python
# The one extras list (README and .ci/run install the same).
EXTRAS := dev,export,launchers,optuna
TORCH_INDEX ?=
ARGS ?=
# Extra pytest arguments, e.g. make test PYTEST_ARGS="tests/test_setup.py -x".
PYTEST_ARGS ?=

.PHONY: install test test-full lint sweep quick tensorboard

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet torch torchvision --index-url $(TORCH_INDEX))

install: $(PY)
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"

test: install
	$(PY) -m pytest -q -n auto --dist loadfile $(PYTEST_ARGS)

test-full: install
	$(PY) -m pytest -q -n auto --dist loadfile -m "slow or not slow" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

sweep: install
	$(PY) -m tl_lightning -m experiment=study $(ARGS)

quick: install
	$(PY) -m tl_lightning arch=alexnet strategy=extractor trainer.max_epochs=3 $(ARGS)

tensorboard:
	$(VENV)/bin/tensorboard --logdir outputs/
