# Two commands a newcomer needs: `make run` and `make test`.
# Both (re)build .venv when it is missing or requirements.txt or pyproject.toml changed (stamp file), then do their
# job. The venv holds the pinned requirements and this project, installed editable (its packages import from any
# folder, e.g. in a Dask worker).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
DATA ?= data
SCALE ?= seed

.PHONY: run test lint venv data bench clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@cat requirements.txt pyproject.toml > $(STAMP)

# Generate seed-scale synthetic raw files on first use (unless real files are in data/raw), prepare, open the app.
data: $(STAMP)
	$(PY) -m pipeline ensure-data --data $(DATA) --scale $(SCALE)

# The workbench on http://127.0.0.1:$(PORT). `python -m workbench` passes the settings of .streamlit/config.toml
# to streamlit as flags, so they hold from any folder. Ctrl-C stops it.
PORT ?= 8501
run: data
	$(PY) -m pipeline features --processed $(DATA)/processed
	$(PY) -m workbench --port $(PORT) -- --data $(DATA)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

# Seed-scale benchmarks (about 35 minutes): data pipeline, LF engine, retrain, LF loop, UI latency, load, on one data folder.
BENCH ?= data/bench
bench: $(STAMP)
	$(PY) -m bench.data_pipeline --work $(BENCH)
	$(PY) -m bench.lf_engine --processed $(BENCH)/processed
	$(PY) -m bench.retrain --data $(BENCH)
	$(PY) -m bench.lf_loop --data $(BENCH)
	$(PY) -m bench.ui_latency --data $(BENCH)
	$(PY) -m bench.load --data $(BENCH)

clean-venv:
	rm -rf $(VENV)
