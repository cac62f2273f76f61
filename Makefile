# wenda — two commands: `make serve` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch goes in first, so nothing later pulls a multi-GB CUDA build.
# Elsewhere: make serve TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test index bench bench-quality bench-answers bench-documents load screenshots install install-test install-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# No bytecode at install time: pip compiles every file of every package, one at a time (about 110 s of
# a fresh clone's 200 s install here). Python compiles what is imported instead, once, into
# $(VENV)/pycache: the recipes drop PYTHONDONTWRITEBYTECODE, with which every process would compile again.
PIP := $(BIN)/pip install --quiet --disable-pip-version-check --no-compile
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
unexport PYTHONDONTWRITEBYTECODE

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) $(TORCH_SPEC)
	$(PIP) -e .
	touch $@

# One resolver pass for the test extras (a fresh clone's `make test` goes straight here).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) $(TORCH_SPEC)
	$(PIP) -e '.[test]'
	touch $(VENV)/.installed $@

# The benchmarks' extras (matplotlib, rank-bm25) on top of the test ones; `make test` does not need them.
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(PIP) $(TORCH_SPEC)
	$(PIP) -e '.[bench]'
	touch $(VENV)/.installed $(VENV)/.installed-test $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

index: install
	$(BIN)/wenda index seeds

serve: index
	$(BIN)/wenda serve --host $(HOST) --port $(PORT)

# Two workers (TEST_WORKERS=0 for one process): the suite waits on subprocesses, servers and a browser
# for much of its time, so on 2 cores it takes ~60% of the serial run. Each test file stays on one
# worker (module fixtures are built once); each worker builds its own session fixtures.
TEST_WORKERS ?= 2
test: install-test
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

# Benchmarks (not part of `make test`); each writes bench/<name>.md and .json.
# bench: indexing, latency, memory, size and cold start from 10^3 to 10^6 passages, before/after rows
# against the code of 2026-11-24 (bench/baseline.py: a worktree of 0779d05 in bench/tmp) and the side
# by side comparisons -> bench/results.md, docs/scaling.png. 21 minutes once the synthetic corpora are
# cached (bench/tmp/synth and the old tree's bench/tmp/synth); building them the first time takes
# ~1.5 hours more here (10^6: 12 min store now, 23 min store and 22 min HNSW in the old tree).
bench: install-bench
	cd bench && ../$(BIN)/python scale.py

# Documents as people have them: the seeds rendered as PDF, scan, .docx and HTML, indexed and asked
# (bench/documents.md); ~10 minutes on 2 cores.
bench-documents: install-bench
	cd bench && ../$(BIN)/python documents.py

# The slower quality benchmarks: retrieval and answer quality, full embedding throughput, int8's
# retrieval quality, approximate vector search on 200,000 real e5 vectors (embedding them: ~15 min).
bench-quality: install-bench
	cd bench && ../$(BIN)/python retrieval.py && ../$(BIN)/python embed_throughput.py \
		&& ../$(BIN)/python int8.py && ../$(BIN)/python ann_real.py

# The answer model (search/data/answer_model.*): the public sets indexed into bench/tmp/answers
# (~25 minutes on 2 cores, once), then trained and reported by cross-validation by article; then the
# cross-encoder of the answer check (search/data/answer_cross.*, ~50 minutes: 5 folds and the shipped one).
bench-answers: install-bench
	cd bench && ../$(BIN)/python answer_data.py --build && ../$(BIN)/python train_answers.py && ../$(BIN)/python train_cross.py --ship && ../$(BIN)/python answer_check_speed.py

# A real server under 32 clients for 60 s (LOAD_SECONDS=, LOAD_CLIENTS= to change); writes bench/load.md and .json.
LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 32
load: install-bench
	cd bench && ../$(BIN)/python load.py --seconds $(LOAD_SECONDS) --clients $(LOAD_CLIENTS)

# The README's screenshots of the page (real Chromium against a real server over the seeds; the
# PDF page: the seeds rendered as PDFs by bench/render_documents.py, a cited answer marked on its page).
screenshots: install-test
	WENDA_SCREENSHOTS=$(CURDIR)/docs $(BIN)/python -m pytest -q tests/test_page.py -k keyboard
	$(BIN)/python tests/screenshot_pdf_page.py $(CURDIR)/docs

clean:
	rm -rf $(VENV) index/gen-* index/CURRENT index/.lock
