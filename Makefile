# RadSynth: `make run` sets everything up and starts the service; `make test` runs the whole suite.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
# torch is installed first and pinned: the CPU build 2.13.0 where it is at hand; any other torch
# requirement would pull several GB of CUDA wheels. Override TORCH_SPEC / TORCH_PIP_ARGS for a GPU host.
TORCH_SPEC     ?= torch==2.13.0
TORCH_PIP_ARGS ?=

.PHONY: setup run test lint openapi bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml client/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]" -e ./client
	touch $@

# --pacs: also a local Orthanc PACS (DICOMweb target `orthanc`) when Debian's orthanc and orthanc-dicomweb are
# installed; without them the service starts alone and says so. SERVE_ARGS= starts it without.
SERVE_ARGS ?= --pacs

run: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/radsynth-serve $(SERVE_ARGS)

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

openapi: setup
	$(PY) -m scripts.export_openapi

clean:
	rm -rf $(VENV) var .pytest_cache
