# The front door. A bare `make` only lists the targets (`make help`); `make run` and `make test`
# set up everything on a fresh machine: the venv with pinned packages and a data source.
# Each target's `## ` comment is its line in `make help`.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
DATASET_DIR := /usr/share/datasets/fashion-mnist
PLOTS_PAGE := .dvc/plots_page.html

# DVC runs stage commands with the first `python` on PATH: make it the venv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.DEFAULT_GOAL := help
.PHONY: help run test lint lock bench push pull plots-page predict docs venv data-source test-packages clean distclean

help: ## list the targets (what a bare `make` does)
	@echo "make TARGET, one of:"
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Then the DVC way, from the venv (source .venv/bin/activate): docs/comparing-runs.md"

run: $(STAMP) data-source $(PLOTS_PAGE) ## set up, the pipeline on the real data, its metrics
	dvc repro
	@echo
	dvc metrics show
	@echo
	@echo "Pictures: $(CURDIR)/plots/*.png"

test: $(STAMP) data-source test-packages $(PLOTS_PAGE) lint ## set up, `make lint`, then every test
	python -m pytest

lint: $(STAMP) ## ruff: lint rules and the format check (settings in pyproject.toml)
	ruff check .
	ruff format --check .

bench: $(STAMP) data-source ## seconds per epoch: the tutorial's loop, ours, numpy's bound
	python -m fmnist.bench

# Share the cached outputs (data, models) through the DVC remote in .dvc/config; metrics,
# DVCLive histories and plots are `cache: false` and travel with git instead.
push: $(STAMP) ## copy data/ and models/ to the DVC remote (.dvc/config)
	dvc push

pull: $(STAMP) ## get data/ and models/ from the DVC remote, or say what to do instead
	@python -m fmnist.pull

venv: $(STAMP) ## only the set-up: .venv with the pinned packages

# The page `dvc plots show` / `dvc plots diff` fill (plots.html_template in .dvc/config), with
# vega inlined from the pinned vl-convert-python: the charts show offline.
plots-page: $(PLOTS_PAGE) ## the offline page `dvc plots show` fills (vega inlined)
$(PLOTS_PAGE): $(STAMP) src/fmnist/plots_page.py
	python -m fmnist.plots_page $@

docs: $(STAMP) data-source ## rewrite the outputs README.md and docs/*.md show, by running the commands (minutes)
	python tests/docs_outputs.py -r

predict: $(STAMP) ## the exported model on your pictures: make predict IMAGES="a.png b.jpg"
	@[ -n "$(strip $(IMAGES))" ] || { echo 'make predict: no pictures given; name them in IMAGES, e.g. make predict IMAGES="shirt.png shoe.jpg"' >&2; exit 2; }
	python -m fmnist.predict $(IMAGES)

# Rebuilt when the pins change; a venv made by another Python is replaced. It installs the
# lock, every package exact (also the indirect ones: a newer Pillow may write other PNG bytes).
$(STAMP): requirements.lock pyproject.toml
	@if [ -x $(VENV)/bin/python ] && ! $(VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then \
		echo "Replacing $(VENV): it is not Python 3.11"; rm -rf $(VENV); fi
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	@touch $@

lock: ## after editing requirements.txt: resolve it afresh into requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.txt
	{ echo "# Every package .venv holds, exact: made from requirements.txt by \`make lock\` (do not edit)."; \
	  .lock-venv/bin/python -m pip freeze; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock && rm -rf .lock-venv

# The offline source of the real data; online mirrors in params.yaml are tried after it.
data-source: ## install Debian's dataset-fashion-mnist if missing (as root), else say so
	@if [ -d $(DATASET_DIR) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's dataset-fashion-mnist (the real Fashion-MNIST files) into $(DATASET_DIR)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "No $(DATASET_DIR): fetch will try the online mirrors in params.yaml" \
		     "(or: sudo apt-get install dataset-fashion-mnist)"; \
	fi

# What the browser and multi-host tests need (Debian's names): installed when missing, as root.
TEST_DEBS := chromium openssh-server openssh-client iproute2
test-packages: ## as root: install chromium, sshd and ip(8) for the tests, if missing
	@missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's $$missing for the browser and multi-host tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "Missing $$missing: the browser and multi-host tests will skip and say why" \
		     "(as root, make test installs them)"; \
	fi

# Only what git ignores: the outputs DVC keeps out of git (data/, models/, probabilities/),
# its cache, dvc_plots/, caches. Committed results (metrics/, plots/, dvc.lock...) and files
# you have not added yet stay; so do .venv and your .dvc/config.local.
clean: ## remove what git ignores (outputs, DVC cache), keeping .venv and .dvc/config.local
	git clean -d -X --force -e '!/$(VENV)' -e '!/.dvc/config.local'

distclean: clean ## `make clean`, and .venv too
	rm -rf $(VENV)
