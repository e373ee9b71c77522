# make test   - create .venv if missing, install, run the fast test suite
# make sweep  - create .venv if missing, install, run the 3x3 study (downloads data + weights; a GPU job)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test test-full lint sweep quick tensorboard

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

install: $(PY)
	$(PY) -m pip install --quiet -e ".[dev,export,launchers,optuna]"

test: install
	$(PY) -m pytest -q

test-full: install
	$(PY) -m pytest -q -m "slow or not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

sweep: install
	$(PY) -m tl_lightning -m arch=alexnet,vgg16,inception_v3 strategy=extractor,finetune,mixed

quick: install
	$(PY) -m tl_lightning arch=alexnet strategy=extractor trainer.max_epochs=3

tensorboard:
	$(VENV)/bin/tensorboard --logdir outputs/
