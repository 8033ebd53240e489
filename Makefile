PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast lint airflow-setup airflow-test

## setup: create .venv and install torch (CPU wheel, pinned), then the project with test extras. Safe to run twice.
setup:
	@command -v $(PY) >/dev/null 2>&1 || { echo "python3.11 not found; set PY=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@$(BIN)/python -c "import router_core, pyspark, faiss, torch; print('setup ok: torch', torch.__version__, 'pyspark', pyspark.__version__)"

## demo: train a small router on the bundled sample and route demo logs with Spark local[*]
demo:
	$(BIN)/python -m jobs.demo --out demo_out

## test: the whole test suite (slow end-to-end tests included)
test:
	$(BIN)/python -m pytest -q

test-fast:
	$(BIN)/python -m pytest -q -m "not slow"

lint:
	$(BIN)/ruff check .
