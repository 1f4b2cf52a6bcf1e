# aekeras: the two commands are `make lab` (set up, start the course) and `make test`
# (set up, run the tests). Everything installs into ./.venv from pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Datasets are read from the Keras cache; verified copies in ../shared/data are copied in when present.
KERAS_HOME ?= $(HOME)/.keras
SHARED_DATA ?= ../shared/data
PYTEST_ARGS ?=
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and this kind of machine run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
TIMEOUT ?= 1800
ASSIGNMENT ?=
JOBS ?= 2
# Whole-notebook limit per submission, in seconds (nbgrader's own timeout is per cell).
GRADE_LIMIT ?= 1800
# Memory per submission's sandbox (more scores 0); GRADE_FLAGS=--unsafe-no-sandbox grades
# without the sandbox (see README: What grading protects).
GRADE_MEMORY ?= 4G
# GPU memory per grading worker (e.g. 8G; empty: no cap), and a Dask scheduler to grade on
# (e.g. tcp://host:8786; empty: JOBS local workers). See README: Grading on GPUs and clusters.
GRADE_GPU_MEMORY ?=
GRADE_SCHEDULER ?=
GRADE_FLAGS ?=
export KERAS_HOME
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup data lab test test-lib book exercises lint format grade clean

help:
	@echo "make lab        set up and start the course in JupyterLab (AEKERAS_EXCHANGE=/shared/folder)"
	@echo "make test       set up and run the test suite (AEKERAS_PROFILE=smoke recommended)"
	@echo "make book       execute every lecture and write build/index.html and build/results.md"
	@echo "make exercises  regenerate exercises/ from solutions/ with nbgrader"
	@echo "make grade ASSIGNMENT=01_pca JOBS=2   autograde a class in parallel"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[tensorflow,course,grader,dev]"
	@touch $@

setup: $(VENV)/.installed

data:
	@mkdir -p "$(KERAS_HOME)/datasets"
	@if [ -d "$(SHARED_DATA)" ]; then \
		cp -rn "$(SHARED_DATA)"/. "$(KERAS_HOME)/datasets/" 2>/dev/null || true; \
		echo "datasets: $(KERAS_HOME)/datasets (copied from $(SHARED_DATA))"; \
	else \
		echo "datasets: $(KERAS_HOME)/datasets (downloaded on first use)"; \
	fi

# nbgrader's exchange (release, fetch, submit, collect, feedback from JupyterLab):
# nbgrader_exchange/ in this checkout, ignored by git, unless AEKERAS_EXCHANGE names a shared folder.
lab: export AEKERAS_EXCHANGE ?= $(CURDIR)/nbgrader_exchange
lab: setup data
	@mkdir -p "$$AEKERAS_EXCHANGE" && echo "nbgrader exchange: $$AEKERAS_EXCHANGE"
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/course $(ROOT_FLAG) $(LAB_ARGS)

test: setup data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

book: setup data
	$(BIN)/python tools/build_book.py --timeout $(TIMEOUT)

exercises: setup
	$(BIN)/python tools/release_exercises.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check aekeras tests tools benchmarks

format: setup
	$(BIN)/ruff format aekeras tests tools benchmarks
	$(BIN)/ruff check --fix aekeras tests tools benchmarks

grade: setup
	@test -n "$(ASSIGNMENT)" || (echo "usage: make grade ASSIGNMENT=01_pca [JOBS=2] [GRADE_LIMIT=1800] [GRADE_MEMORY=4G] [GRADE_GPU_MEMORY=8G] [GRADE_SCHEDULER=tcp://host:8786]"; exit 2)
	$(BIN)/python -m aekeras_grader grade "$(ASSIGNMENT)" --jobs $(JOBS) --limit $(GRADE_LIMIT) --memory $(GRADE_MEMORY) \
		$(if $(GRADE_GPU_MEMORY),--gpu-memory $(GRADE_GPU_MEMORY)) $(if $(GRADE_SCHEDULER),--scheduler $(GRADE_SCHEDULER)) $(GRADE_FLAGS)
	$(BIN)/python -m aekeras_grader check-feedback "$(ASSIGNMENT)"

clean:
	rm -rf build .pytest_cache
