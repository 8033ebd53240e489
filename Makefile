PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast lint airflow-setup airflow-test

## setup: create .venv and install torch (CPU wheel, pinned), then the project with test extras, then the JVM class archive small Spark jobs start from and the CPU embedder's ONNX file. Safe to run twice.
setup:
	@command -v $(PY) >/dev/null 2>&1 || { echo "python3.11 not found; set PY=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@$(BIN)/python -c "import router_core, pyspark, faiss, torch; print('setup ok: torch', torch.__version__, 'pyspark', pyspark.__version__)"
	@$(BIN)/python -m jobs.jvm_class_archive || echo "JVM class archive not made: Spark jobs start without it"
	@$(BIN)/python -c "from router_core.onnx_embedder import onnx_model; print('CPU embedder:', onnx_model(precision='fp32'))" \
	  || echo "CPU embedder's ONNX file not built: the first job builds it, or embeds with torch"

## demo: train a small router on the bundled sample and route demo logs with Spark local[*]
demo:
	$(BIN)/python -m jobs.demo --out demo_out

## test: the whole test suite (slow end-to-end tests included)
test:
	$(BIN)/python -m pytest -q

## test-fast: the tests without the slow end-to-end ones
test-fast:
	$(BIN)/python -m pytest -q -m "not slow"

## lint: ruff's lint rules and its formatting (CI runs it; `ruff format .` fixes the formatting)
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

AIRFLOW_VENV := .venv-airflow
AIRFLOW_REQS := airflow_dags/requirements.txt
# Copy of the requirements last installed into the venv: pip runs again only when they change.
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-requirements.txt

## airflow-setup: create .venv-airflow with the pinned Airflow 3 + Spark provider (airflow_dags/requirements.txt). Safe to run twice: a broken venv is recreated, pip runs only when the requirements changed or an install is incomplete.
airflow-setup:
	@command -v $(PY) >/dev/null 2>&1 || { echo "python3.11 not found; set PY=/path/to/python3.11"; exit 1; }
	@$(AIRFLOW_VENV)/bin/python -c "import sys" 2>/dev/null || { rm -rf $(AIRFLOW_VENV) && $(PY) -m venv $(AIRFLOW_VENV); }
	@if cmp -s $(AIRFLOW_REQS) $(AIRFLOW_STAMP) && \
	    $(AIRFLOW_VENV)/bin/python -c "import airflow.providers.apache.spark, pytest, pyarrow" 2>/dev/null; then \
	  echo "airflow-setup: $(AIRFLOW_VENV) already matches $(AIRFLOW_REQS)"; \
	else \
	  rm -f $(AIRFLOW_STAMP) && \
	  $(AIRFLOW_VENV)/bin/python -m pip install -q --upgrade pip && \
	  $(AIRFLOW_VENV)/bin/python -m pip install -q -r $(AIRFLOW_REQS) && \
	  cp $(AIRFLOW_REQS) $(AIRFLOW_STAMP); \
	fi
	@$(AIRFLOW_VENV)/bin/python -c "import airflow, airflow.providers.apache.spark; print('airflow-setup ok: airflow', airflow.__version__)"

## airflow-test: DAG import + structure tests, then dag.test() runs of the nightly DAG on generated logs (needs `make setup`)
airflow-test: airflow-setup
	@test -x $(BIN)/spark-submit || { echo "$(BIN)/spark-submit not found: run 'make setup' first (the DAG runs the jobs from $(VENV))"; exit 1; }
	$(AIRFLOW_VENV)/bin/python -m pytest -p no:cacheprovider -q tests_airflow
