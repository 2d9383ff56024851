# Two commands on a fresh machine: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Embedded default: SQLite Airflow metadata and a SQLite MLflow store, all under this folder.
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export AIRFLOW__CORE__EXECUTOR ?= LocalExecutor
# LocalExecutor workers fork from a process that imported torch, MLflow and GX once (retrain.orchestration.task_preload)
export AIRFLOW__SCHEDULER__MP_START_METHOD ?= forkserver
export AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD ?= retrain.orchestration.preloaded_libraries
export RETRAIN_LOCAL_STATE ?= $(CURDIR)/.local
export MLFLOW_TRACKING_URI ?= sqlite:///$(RETRAIN_LOCAL_STATE)/mlflow/mlflow.db
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Python's default: compiled modules are cached in __pycache__ (ignored by git). Shells that turn it off make every
# task process, CLI and test worker compile the project's modules and rewrite the test modules again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo demo-events test lint ui ui-check services bench clean

install: $(STAMP)

# uv installs the same pinned set as pip in 7 s against pip's 34 s here (docs/benchmarks.md); pip stays the fallback.
# Neither compiles: compileall then uses every core and skips the packages' own test suites (a fifth of their
# files). A file that does not compile (torch ships Python 3.12 syntax) is left to the import, as pip leaves it.
# uv reads no pip configuration: the machine's wheel folder (PIP_FIND_LINKS, e.g. a CPU-only torch) is passed on.
UV_VERSION := 0.13.9
REQUIREMENTS := -r requirements.txt -r requirements-dev.txt -c requirements.lock
$(STAMP): requirements.txt requirements-dev.txt requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if $(BIN)/pip install --quiet uv==$(UV_VERSION) && \
		$(BIN)/uv pip install --quiet --python $(BIN)/python $${PIP_FIND_LINKS:+--find-links $$PIP_FIND_LINKS} \
			$(REQUIREMENTS) && $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .; then :; \
	else \
		$(BIN)/pip install --quiet --upgrade pip && \
		$(BIN)/pip install --quiet --no-compile $(REQUIREMENTS) && $(BIN)/pip install --quiet --no-compile --no-deps -e .; \
	fi
	$(BIN)/python -m compileall -qq -j0 -x '/tests/' $(VENV)/lib || true
	touch $(STAMP)

demo: install
	$(BIN)/python -m retrain_demo.demo

# A data event starts a run on a real, running Airflow (its own folder: .local/demo-events/).
demo-events: install
	$(BIN)/python -m retrain_demo.demo_events

# Four workers on two cores: the Celery and shared-Airflow units mostly wait on schedulers, so two more workers
# keep both cores busy meanwhile. Every test module is one unit, the slowest first (tests/conftest.py,
# docs/benchmarks.md). `make test TEST_WORKERS=2` for the old setting.
TEST_WORKERS ?= 4
# install and services side by side: pip on a fresh clone, apt for the browser on a fresh machine.
test:
	$(MAKE) --no-print-directory -j2 install services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

lint: install
	$(BIN)/ruff check .

# Starts PostgreSQL, Redis and RabbitMQ when they are down (CI machines start fresh).
services:
	bash .ci/services.sh

# Airflow UI on :8080 (airflow standalone) and MLflow UI on :5000, on the embedded default.
ui: install
	$(BIN)/airflow db migrate >/dev/null
	( $(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --port 5000 & ) ; \
	$(BIN)/airflow standalone

# The production topology natively (CeleryExecutor, default and gpu workers, MLflow server) and its web UI
# in headless Chromium; saves the screenshot the README shows. `services` installs chromium when missing.
ui-check: install services
	RETRAIN_UI_SCREENSHOT=$(CURDIR)/docs/img/ui-grid.png $(BIN)/python -m pytest \
		tests/integration/test_celery_topology.py -k "routes or web_ui" -p no:cacheprovider

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf .airflow .local
