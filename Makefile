# Two commands a newcomer needs: `make run` and `make test`.
# Both (re)build .venv when it is missing or requirements.txt changed (stamp file), then do their job.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
DATA ?= data
SCALE ?= seed

.PHONY: run test lint venv data bench clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@cp requirements.txt $(STAMP)

# Generate seed-scale synthetic raw files on first use (unless real files are in data/raw), prepare, open the app.
data: $(STAMP)
	$(PY) -m pipeline ensure-data --data $(DATA) --scale $(SCALE)

# The workbench on http://127.0.0.1:$(PORT) (server settings: .streamlit/config.toml). Ctrl-C stops it.
PORT ?= 8501
run: data
	$(PY) -m pipeline features --processed $(DATA)/processed
	$(PY) -m streamlit run workbench/app.py --server.port $(PORT) -- --data $(DATA)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

# Seed-scale benchmarks (about 30 minutes): data pipeline, LF engine, retrain, LF loop, UI latency, on one data folder.
BENCH ?= data/bench
bench: $(STAMP)
	$(PY) bench/data_pipeline.py --work $(BENCH)
	$(PY) bench/lf_engine.py --processed $(BENCH)/processed
	$(PY) bench/retrain.py --data $(BENCH)
	$(PY) bench/lf_loop.py --data $(BENCH)
	$(PY) bench/ui_latency.py --data $(BENCH)

clean-venv:
	rm -rf $(VENV)
