"""Everyday benign text at scale: how often the engine raises a level, and how often a long everyday
conversation would be escalated to a clinician.

Sets (none of them trained on: ``goemotions`` trains on its train file only, ``esconv`` on its train file, and
CounselChat questions and AnnoMI client turns are taken from the dev split of the corpus's seeded group split):

* GoEmotions dev + test comments (everyday Reddit, dark idioms included);
* ESConv help-seekers' turns from its valid and test dialogues (troubles, not crises);
* CounselChat questions outside the risk topics, dev split;
* AnnoMI client turns outside the risky topics, dev split.

A text that truly discloses suicidal thoughts does occur in such sets; it is counted, not removed, so the rates
are upper bounds on false alarms.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mindrail.policy.decide import Policy
from mindrail.policy.schema import Action
from mindrail.risk.engine import RiskEngine
from mindrail.risk.types import Category, Level
from mindrail.training.dataset import _COUNSEL_TOPICS, esconv_dialogues, split_of

SSH = Category.SUICIDE_SELF_HARM
_RISK_TOPICS = frozenset(_COUNSEL_TOPICS) - {"anxiety", "stress", "self-esteem", "grief-and-loss"}


def goemotions_texts(shared: Path) -> Iterator[str]:
    for name in ("dev.tsv", "test.tsv"):
        with (shared / "goemotions" / name).open(encoding="utf-8") as fh:
            for line in fh:
                yield line.split("\t", 1)[0]


def esconv_texts(shared: Path) -> Iterator[str]:
    for _, conv in esconv_dialogues(shared, ("valid.json", "test.json")):
        for turn in conv["dialog"]:
            if turn["speaker"] == "usr" and turn["text"].strip():
                yield turn["text"].strip()


def counsel_texts(shared: Path, seed: int = 13) -> Iterator[str]:
    seen: set[str] = set()
    with (shared / "counsel_chat" / "20200325_counsel_chat.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            qid = row["questionID"]
            if qid in seen or row["topic"] in _RISK_TOPICS or split_of(f"counsel_chat:{qid}", seed) != "dev":
                continue
            seen.add(qid)
            yield f"{row['questionTitle']}\n{row['questionText'] or ''}".strip()


def annomi_texts(shared: Path, seed: int = 13) -> Iterator[str]:
    risky = ("self-harm", "violence", "weight", "diet")
    with (shared / "annomi" / "AnnoMI-simple.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["interlocutor"] != "client" or any(t in row["topic"].lower() for t in risky):
                continue
            if split_of(f"annomi:{row['transcript_id']}", seed) != "dev" or len(row["utterance_text"].split()) < 3:
                continue
            yield row["utterance_text"].strip()


SETS = {
    "goemotions_dev_test": goemotions_texts,
    "esconv_seekers_valid_test": esconv_texts,
    "counselchat_questions_dev": counsel_texts,
    "annomi_client_dev": annomi_texts,
}


def rates(engine: RiskEngine, texts: list[str]) -> dict[str, Any]:
    n = low = mod = any_mod = 0
    for a in engine.iter_assess(texts):
        n += 1
        low += a.level(SSH) >= Level.LOW
        mod += a.level(SSH) >= Level.MODERATE
        any_mod += a.top_level >= Level.MODERATE
    return {
        "n": n,
        "suicide_at_low_or_above": low / n if n else None,
        "suicide_at_moderate_or_above": mod / n if n else None,
        "any_category_at_moderate_or_above": any_mod / n if n else None,
    }


def long_conversations(
    engine: RiskEngine, texts: list[str], *, turns: int = 1000, conversations: int = 3, seed: int = 13
) -> dict[str, Any]:
    """Conversations of ``turns`` everyday user messages (with a neutral assistant reply between them); an
    escalation is a turn whose policy decision includes ``escalate``."""
    policy = Policy.load()
    rng = random.Random(seed)
    escalations = total = raised = 0
    for _ in range(conversations):
        state = engine.new_conversation()
        for text in rng.sample(texts, min(turns, len(texts))):
            a = state.add_user(text)
            state.add_assistant("I see. Tell me more.")
            total += 1
            escalations += Action.ESCALATE in policy.decide(a).actions
            raised += a.top_level >= Level.MODERATE
    return {
        "turns": total,
        "escalations_per_1000_turns": 1000 * escalations / total if total else None,
        "turns_at_moderate_per_1000": 1000 * raised / total if total else None,
    }


def evaluate(engine: RiskEngine, shared: Path | None = None, *, limit: int | None = None) -> dict[str, Any]:
    from mindrail.training.dataset import default_shared_dir

    shared = shared or default_shared_dir()
    out: dict[str, Any] = {}
    pooled: list[str] = []
    for name, fn in SETS.items():
        texts = list(fn(shared))[:limit]
        out[name] = rates(engine, texts)
        pooled += texts
    n = sum(v["n"] for v in out.values())
    out["pooled"] = {
        "n": n,
        **{
            k: sum(v[k] * v["n"] for v in out.values() if v["n"]) / n
            for k in ("suicide_at_low_or_above", "suicide_at_moderate_or_above", "any_category_at_moderate_or_above")
        },
    }
    short = [t for t in goemotions_texts(shared) if len(t) < 200]
    out["long_conversations"] = long_conversations(engine, short)
    return out
