# The front door: `make run` (the pipeline on the real data) and `make test`.
# Both set up everything on a fresh machine: the venv with pinned packages and a data source.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
DATASET_DIR := /usr/share/datasets/fashion-mnist
PLOTS_PAGE := .dvc/plots_page.html

# DVC runs stage commands with the first `python` on PATH: make it the venv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: run test bench push pull data-source clean plots-page predict

run: $(STAMP) data-source $(PLOTS_PAGE)
	dvc repro
	@echo
	dvc metrics show
	@echo
	@echo "Pictures: $(CURDIR)/plots/*.png"

test: $(STAMP) data-source $(PLOTS_PAGE)
	python -m pytest

bench: $(STAMP) data-source
	python -m fmnist.bench

# Share the cached outputs (data, models) through the DVC remote in .dvc/config; metrics,
# DVCLive histories, timing and plots are `cache: false` and travel with git instead.
push: $(STAMP)
	dvc push

pull: $(STAMP)
	dvc pull

# The page `dvc plots show` / `dvc plots diff` fill (plots.html_template in .dvc/config), with
# vega inlined from the pinned vl-convert-python: the charts show offline.
plots-page: $(PLOTS_PAGE)
$(PLOTS_PAGE): $(STAMP) src/fmnist/plots_page.py
	python -m fmnist.plots_page $@

# The exported Gluon model on your own pictures: make predict IMAGES="shirt.jpg boot.png"
predict: $(STAMP)
	python -m fmnist.predict $(IMAGES)

# Rebuilt when the pins change; a venv made by another Python is replaced.
$(STAMP): requirements.txt pyproject.toml
	@if [ -x $(VENV)/bin/python ] && ! $(VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then \
		echo "Replacing $(VENV): it is not Python 3.11"; rm -rf $(VENV); fi
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt -e .
	@touch $@

# The offline source of the real data; online mirrors in params.yaml are tried after it.
data-source:
	@if [ -d $(DATASET_DIR) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's dataset-fashion-mnist (the real Fashion-MNIST files) into $(DATASET_DIR)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "No $(DATASET_DIR): fetch will try the online mirrors in params.yaml" \
		     "(or: sudo apt-get install dataset-fashion-mnist)"; \
	fi

clean:
	rm -rf data/raw data/prepared models dvclive timing metrics predicted_classes probabilities plots .dvc/cache .dvc/tmp
