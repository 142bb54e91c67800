# Two commands do all the set-up: `make test` and `make repro`. Both create .venv when it is missing.
#
# torchsort ships no wheel: it is compiled against the torch already in .venv (hence two pip steps and
# --no-build-isolation). Its setup.py builds a CUDA extension whenever `nvcc` is on PATH, which fails
# against a CPU-only torch, so nvcc's directories are dropped from PATH unless torch has CUDA. The
# optional extra `ray` (grid.backend: ray) is installed too, so that its tests run.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.divlib-installed

export DVC_NO_ANALYTICS := 1
export ITERATIVE_DO_NOT_TRACK := 1

.PHONY: env test test-fast repro paper bench lint clean-env

env: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	@if $(PY) -c "import torchsort" 2>/dev/null; then echo "torchsort already built"; else \
	  if [ "$$($(PY) -c 'import torch; print(torch.version.cuda or "")')" ]; then path="$$PATH"; else \
	    path=$$(echo "$$PATH" | tr ':' '\n' | while read -r d; do [ -x "$$d/nvcc" ] || echo "$$d"; done | paste -sd:); fi; \
	  echo "building torchsort against $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	  env PATH="$$path" $(PIP) install -q --no-build-isolation --no-cache-dir torchsort==0.1.10 || exit 1; fi
	$(PIP) install -q -e ".[study,dev,ray]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# Everything but the tests marked slow (the tiny DVC pipeline end to end, a wheel build, …)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) bench/ddro.py
	$(PY) bench/finetune.py
	$(PY) bench/rerank.py

lint: $(STAMP)
	$(VENV)/bin/ruff check divlib tests bench stages notebooks
	$(VENV)/bin/ruff format --check divlib tests bench stages notebooks

repro: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro

# The paper's scale: five datasets, 10 seeds for every experiment (Q4's 100-epoch runs too), NMF and NCF,
# and for every variant of the robustness table.
# Netflix and Yahoo! R2 must be placed by hand first (README, Data); GPUs are used when visible. Runs as a
# DVC experiment; compare with `dvc exp show`.
PAPER := -S 'datasets=[ml-1m,coat,kuairec,netflix,yahoo-r2]' -S 'seeds=[1,2,3,4,5,6,7,8,9,10]' \
	-S 'main_table.seeds=all' -S 'training_curves.seeds=all' -S 'robustness.seeds=all'

paper: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc exp run -n paper-scale $(PAPER)

clean-env:
	rm -rf $(VENV)
