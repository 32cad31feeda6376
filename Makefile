# The front door. A bare `make` only lists the targets (`make help`); `make run` and `make test`
# set up everything on a fresh machine: the venv with pinned packages and a data source.
# Each target's `## ` comment is its line in `make help`.
VENV := .venv
STAMP := $(VENV)/.installed
UV := $(VENV)/bin/uv
# The Python: the first of python3.11 and python3.12 that runs, or the one named, as in
# `make run PYTHON=python3.12`. Found here, once: "NAME MAJOR.MINOR".
FOUND_PYTHON := $(shell for p in $(or $(PYTHON),python3.11 python3.12); do \
	v=$$($$p -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) && echo $$p $$v && break; done)
PYTHON := $(word 1,$(FOUND_PYTHON))
PYTHON_VERSION := $(word 2,$(FOUND_PYTHON))
NO_PYTHON = No Python to make $(VENV) with: $(or $(PYTHON),python3.11 or python3.12) not found. \
	Get one (\`uv python install 3.12\` where the network allows, or your distribution's, e.g. \
	\`sudo apt-get install python3.12-venv\`), or name it: make run PYTHON=/path/to/python3.12
DATASET_DIR := /usr/share/datasets/fashion-mnist
PLOTS_PAGE := .dvc/plots_page.html

# DVC runs stage commands with the first `python` on PATH: make it the venv's.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.DEFAULT_GOAL := help
.PHONY: help run test test-3.12 lint lock bench bench-loop sweep push pull plots-page predict docs venv data-source \
	test-packages clean distclean FORCE

help: ## list the targets (what a bare `make` does)
	@echo "make TARGET, one of:"
	@awk -F ':.*## ' '/^[a-z][a-z0-9.-]*:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Then the DVC way, from the venv (source .venv/bin/activate): docs/comparing-runs.md"

run: $(STAMP) data-source $(PLOTS_PAGE) ## set up, the pipeline on the real data, its metrics
	dvc repro
	@echo
	dvc metrics show
	@echo
	@echo "Pictures: $(CURDIR)/plots/*.png"

test: $(STAMP) data-source test-packages $(PLOTS_PAGE) lint ## set up, `make lint`, then every test
	python -m pytest $(PYTEST_PARALLEL)

# Tests run in parallel, one worker per core; an idle worker takes queued tests from a busy
# one (a few tests take minutes, most a second).
PYTEST_PARALLEL ?= -n auto --dist worksteal

# CI's check that Python 3.12 computes the committed bytes too: the end-to-end tests again, in
# .venv-3.12, made from the same uv.lock.
PYTHON_3_12 ?= python3.12
TESTS_ON_3_12 := tests/test_end_to_end.py tests/test_reproducibility.py tests/test_requirements.py
test-3.12: data-source ## the end-to-end tests on Python 3.12 too, in .venv-3.12 (CI runs it)
	@$(MAKE) --no-print-directory VENV=.venv-3.12 PYTHON=$(PYTHON_3_12) venv
	.venv-3.12/bin/python -m pytest $(TESTS_ON_3_12)

lint: $(STAMP) ## ruff: lint rules and the format check (settings in pyproject.toml)
	ruff check .
	ruff format --check .

bench: $(STAMP) data-source ## seconds per epoch: the tutorial's loop, ours, numpy's bound
	python -m fmnist.bench --profile

bench-loop: $(STAMP) data-source ## dvc repro after a train.lr change, per stage (AGAINST=REV: beside it)
	python -m fmnist.loop_bench $(if $(AGAINST),--against $(AGAINST))

sweep: $(STAMP) data-source ## docs/dvc-tools.md's sweep on the real data, recorded (minutes)
	python -m fmnist.sweep_record

# Share the cached outputs (data, models) through the DVC remote in .dvc/config; metrics,
# DVCLive histories and plots are `cache: false` and travel with git instead.
push: $(STAMP) ## copy data/ and models/ to the DVC remote (.dvc/config)
	dvc push

pull: $(STAMP) ## get data/ and models/ from the DVC remote, or say what to do instead
	@python -m fmnist.pull

venv: $(STAMP) ## only the set-up: .venv from uv.lock (PYTHON=python3.12 picks the Python)

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

# Rebuilt when the pins change, and replaced when it was made by another Python than the one
# chosen (a venv's bin/ names its version). The Python makes the venv and pip puts uv in it,
# checked against uv's hash in uv.lock; then uv installs uv.lock, every package exact (also the
# indirect ones: a newer Pillow may write other PNG bytes) and hash-checked, and the project.
# --compile-bytecode: uv leaves .pyc files to the first import, and with PYTHONDONTWRITEBYTECODE
# set (as on CI machines) every stage and dvc process compiled ~300 modules again (0.3-0.6 s).
ifeq ($(wildcard $(VENV)/bin/python$(PYTHON_VERSION)),)
$(STAMP): FORCE
endif
$(STAMP): uv.lock pyproject.toml
	@[ -n "$(PYTHON_VERSION)" ] || { echo "$(NO_PYTHON)"; exit 1; }
	@case "$(PYTHON_VERSION)" in 3.11|3.12) ;; *) echo "$(PYTHON) is Python $(PYTHON_VERSION):" \
		"MXNet 1.9.1 runs on 3.11 and 3.12 only (make run PYTHON=python3.12)"; exit 1;; esac
	@if [ -d $(VENV) ] && [ ! -x $(VENV)/bin/python$(PYTHON_VERSION) ]; then \
		echo "Replacing $(VENV): it is not Python $(PYTHON_VERSION)"; rm -rf $(VENV); fi
	@[ -x $(UV) ] || { $(BOOTSTRAP_UV); }
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --quiet \
		--compile-bytecode
	@touch $@
FORCE:

# uv from PyPI, the version and hashes uv.lock holds: pip refuses any other wheel. Then pip
# goes (the Python's own copy, often old): uv installs everything else, and uv.lock is exact.
BOOTSTRAP_UV = $(PYTHON) -m venv $(VENV) && $(VENV)/bin/python -c "$$UV_FROM_LOCK" \
	| $(VENV)/bin/python -m pip install --quiet --isolated --disable-pip-version-check \
	  --no-deps --only-binary :all: --require-hashes -r /dev/stdin \
	&& $(UV) pip uninstall --quiet --python $(VENV)/bin/python pip
define UV_FROM_LOCK
import tomllib
(uv,) = [p for p in tomllib.load(open("uv.lock", "rb"))["package"] if p["name"] == "uv"]
print(f"uv=={uv['version']}", *(f"--hash={wheel['hash']}" for wheel in uv["wheels"]))
endef
export UV_FROM_LOCK

lock: ## after editing pyproject.toml's pins: resolve them into uv.lock (hashes too)
	@[ -x $(UV) ] || { [ -n "$(PYTHON_VERSION)" ] || { echo "$(NO_PYTHON)"; exit 1; }; $(BOOTSTRAP_UV); }
	$(UV) lock

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
# you have not added yet stay; so do the venvs and your .dvc/config.local.
clean: ## remove what git ignores (outputs, DVC cache), keeping .venv and .dvc/config.local
	git clean -d -X --force -e '!/$(VENV)' -e '!/.venv-3.12' -e '!/.dvc/config.local'

distclean: clean ## `make clean`, and .venv (and .venv-3.12) too
	rm -rf $(VENV) .venv-3.12
