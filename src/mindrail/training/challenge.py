"""The frozen challenge set (``data/challenge/``): held-out messages and conversations that would catch the
risk engine failing, written by writers who never wrote training data, frozen (sha256 in ``SHA256SUMS``)
before any model change, and never trained or tuned on.

``build`` merges the writers' parts and derives the scripted evasion variants (leetspeak, spaced letters,
emoji, zero-width characters, homoglyphs) of the plain originals; ``evaluate`` replays everything through an
engine and returns aggregate figures only: counts and rates per slice, never an item's text, so failures are
read in aggregate as the issue asks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mindrail.risk.engine import RiskEngine
from mindrail.risk.io import Record, iter_jsonl
from mindrail.risk.types import Assessment, Category, Level, Subject
from mindrail.screening import replay

SubjectLabel = Literal["self", "someone_else", "fictional", "quoted", "unclear"]
FILES = ("messages.jsonl", "conversations.jsonl")
M = TypeVar("M", bound=BaseModel)


class _ChallengeLine(BaseModel):
    """Challenge lines carry writers' extra fields (platform, register): kept, not refused, so not a
    ``StrictModel`` (whose unknown fields are errors)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class ChallengeMessage(_ChallengeLine):
    id: str
    text: str
    labels: dict[Category, Level] = Field(default_factory=dict)
    subject: SubjectLabel = "self"
    cssrs: str = "none"
    tense: str = "none"
    method: str = "none"
    form: str = "plain"
    lang: str = "en"
    topic: list[str] = Field(default_factory=list)
    author: str
    variant_of: str | None = None


class ChallengeTurn(_ChallengeLine):
    role: Literal["user", "assistant"]
    text: str


class ChallengeConversation(_ChallengeLine):
    id: str
    turns: list[ChallengeTurn]
    labels: dict[Category, Level] = Field(default_factory=dict)
    max_labels: dict[Category, Level] = Field(default_factory=dict)
    self_max: dict[Category, Level] = Field(default_factory=dict)
    subject: SubjectLabel = "self"
    kind: str = "crisis"
    lang: str = "en"
    topic: list[str] = Field(default_factory=list)
    author: str


def _parse_level_map(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: Level.parse(v) if isinstance(v, str) else v for k, v in raw.items()}
    return raw


def _records(path: Path) -> Iterator[Record]:
    with path.open("rb") as fh:
        yield from iter_jsonl(fh, str(path))


def read_lines(path: Path, model: type[M]) -> Iterator[M]:
    """Rows of a JSONL file as ``model``; a bad row raises ValueError naming file, line and field."""
    for rec in _records(path):
        row = rec.value
        try:
            for key in ("labels", "max_labels", "self_max"):
                if key in row:
                    row[key] = _parse_level_map(row[key])
            yield model.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{path}:{rec.line}: {field}: {err['msg']}") from None
        except ValueError as exc:
            raise ValueError(f"{path}:{rec.line}: {exc}") from None


def default_dir() -> Path:
    from mindrail.training.dataset import default_project_data_dir

    return default_project_data_dir() / "challenge"


# ---------------------------------------------------------------------------------------------- build and freeze

_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
_HOMOGLYPHS = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і"})
_EMOJI = ("😔", "💀", "🙃", "😭", "🔫", "💊", "🌉")


def _variants(text: str, rng: random.Random) -> dict[str, str]:
    """The scripted evasions of one plain message, each meaning exactly what the original means."""
    words = text.split()
    k = rng.randrange(len(words)) if words else 0
    spaced = " ".join(" ".join(w) if i == k and len(w) > 3 else w for i, w in enumerate(words))
    zw = "".join(ch + ("\u200b" if ch.isalpha() and rng.random() < 0.3 else "") for ch in text)
    emoji = " ".join(w + (" " + rng.choice(_EMOJI) if rng.random() < 0.25 else "") for w in words)
    return {
        "leetspeak": text.lower().translate(_LEET),
        "spaced": spaced,
        "emoji": emoji,
        "zero_width": zw,
        "homoglyph": text.translate(_HOMOGLYPHS),
    }


def build(root: Path, seed: int = 13) -> dict[str, int]:
    """Merge ``parts/*.jsonl`` into messages.jsonl and conversations.jsonl, add the scripted variants of the
    plain originals that have hand-written variants, and write SHA256SUMS."""
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = []
    conversations: list[dict[str, Any]] = []
    for part in sorted((root / "parts").glob("*.jsonl")):
        for rec in _records(part):
            (conversations if "turns" in rec.value else messages).append(rec.value)
    originals = {m["variant_of"] for m in messages if m.get("variant_of")}
    scripted = []
    for m in messages:
        if m["id"] in originals:
            for form, text in _variants(m["text"], rng).items():
                extra = {"id": f"{m['id']}~{form}", "text": text, "form": form, "variant_of": m["id"]}
                scripted.append({**m, **extra, "author": "scripted-variants"})
    messages += scripted
    ids = Counter(r["id"] for r in messages + conversations)
    dupes = [i for i, n in ids.items() if n > 1]
    if dupes:
        raise ValueError(f"duplicate ids in the challenge parts: {', '.join(sorted(dupes)[:5])}")
    for name, rows in (("messages.jsonl", messages), ("conversations.jsonl", conversations)):
        with (root / name).open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    load(root)  # validate every row against the schema
    (root / "SHA256SUMS").write_text("".join(f"{sha256(root / n)}  {n}\n" for n in FILES), encoding="utf-8")
    return {"messages": len(messages), "scripted_variants": len(scripted), "conversations": len(conversations)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(root: Path) -> None:
    """Raise when a challenge file differs from the digest frozen in SHA256SUMS."""
    for line in (root / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split()
        if sha256(root / name) != digest:
            raise ValueError(f"{root / name}: sha256 differs from SHA256SUMS: the frozen challenge set was changed")


def load(root: Path) -> tuple[list[ChallengeMessage], list[ChallengeConversation]]:
    return (
        list(read_lines(root / "messages.jsonl", ChallengeMessage)),
        list(read_lines(root / "conversations.jsonl", ChallengeConversation)),
    )


# ---------------------------------------------------------------------------------------------- evaluation


@dataclass
class _Rate:
    k: int = 0
    n: int = 0

    def add(self, ok: bool) -> None:
        self.k += int(ok)
        self.n += 1

    def to_dict(self) -> dict[str, Any]:
        from mindrail.bench.stats import wilson

        lo, hi = wilson(self.k, self.n)
        return {"k": self.k, "n": self.n, "rate": self.k / self.n if self.n else None, "ci95": [lo, hi]}


def crisis_labels(labels: dict[Category, Level]) -> dict[Category, Level]:
    """The labels an item is scored on: its crisis categories at moderate or above. Distress rides along with
    most crises and is scored only when it is the crisis (an OCD ritual, severe hopelessness)."""
    crisis: dict[Category, Level] = {
        c: lv for c, lv in labels.items() if lv >= Level.MODERATE and c != Category.DISTRESS
    }
    if not crisis and labels.get(Category.DISTRESS, Level.NONE) >= Level.MODERATE:
        crisis = {Category.DISTRESS: labels[Category.DISTRESS]}
    return crisis


def _is_crisis(labels: dict[Category, Level]) -> bool:
    return bool(crisis_labels(labels))


def _reached(a: Assessment, labels: dict[Category, Level]) -> bool:
    return all(a.level(c) >= lv for c, lv in crisis_labels(labels).items())


def _slices(m: ChallengeMessage) -> Iterable[str]:
    yield f"author:{m.author}"
    yield f"form:{m.form}"
    yield f"lang:{m.lang}"
    yield f"subject:{m.subject}"
    if m.method != "none":
        yield f"method:{m.method}"
    if m.cssrs != "none":
        yield f"cssrs:{m.cssrs}"
    if m.tense != "none":
        yield f"tense:{m.tense}"
    for c, lv in crisis_labels(m.labels).items():
        yield f"category:{c.value}>={lv.label}"
    for t in m.topic:
        yield f"topic:{t}"


def evaluate_messages(engine: RiskEngine, messages: list[ChallengeMessage]) -> dict[str, Any]:
    assessed = dict(zip((m.id for m in messages), engine.iter_assess(m.text for m in messages), strict=True))
    crisis, at_none, benign_mod, low_items = _Rate(), _Rate(), _Rate(), _Rate()
    by_slice: dict[str, _Rate] = defaultdict(_Rate)
    benign_by_slice: dict[str, _Rate] = defaultdict(_Rate)
    evasion, multilingual = _Rate(), _Rate()
    evasion_by_form: dict[str, _Rate] = defaultdict(_Rate)
    # Where a crisis item's level landed, per labelled category and rung: tells "not seen at all" apart from
    # "seen, but placed too low on the ladder" without showing any item.
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for m in messages:
        a = assessed[m.id]
        if _is_crisis(m.labels):
            ok = _reached(a, m.labels)
            crisis.add(ok)
            at_none.add(a.top_level == Level.NONE)
            for c, lv in crisis_labels(m.labels).items():
                confusion[f"{c.value}={lv.label}"][a.level(c).label] += 1
            for s in _slices(m):
                by_slice[s].add(ok)
            if m.lang != "en":
                multilingual.add(max(a.level(c) for c in crisis_labels(m.labels)) >= Level.MODERATE)
        elif not m.labels:
            high = a.top_level >= Level.MODERATE
            benign_mod.add(high)
            for s in _slices(m):
                benign_by_slice[s].add(high)
        else:
            low_items.add(_reached_any(a, m.labels))
        if m.variant_of and m.variant_of in assessed and crisis_labels(m.labels):
            plain = assessed[m.variant_of]
            main = crisis_labels(m.labels)
            cat = max(main, key=lambda c: main[c])
            same = a.level(cat) >= plain.level(cat)
            evasion.add(same)
            evasion_by_form[m.form].add(same)
    return {
        "n_messages": len(messages),
        "crisis_at_level_or_above": crisis.to_dict(),
        "crisis_at_none": at_none.to_dict(),
        "benign_at_moderate_or_above": benign_mod.to_dict(),
        "low_items_reached": low_items.to_dict(),
        "evasion_at_plain_level": evasion.to_dict(),
        "evasion_by_form": {k: v.to_dict() for k, v in sorted(evasion_by_form.items())},
        "multilingual_crisis_at_moderate": multilingual.to_dict(),
        "crisis_level_given": {k: dict(sorted(v.items())) for k, v in sorted(confusion.items())},
        "crisis_by_slice": {k: v.to_dict() for k, v in sorted(by_slice.items())},
        "benign_by_slice": {k: v.to_dict() for k, v in sorted(benign_by_slice.items())},
    }


def _reached_any(a: Assessment, labels: dict[Category, Level]) -> bool:
    return all(a.level(c) >= lv for c, lv in labels.items())


def evaluate_conversations(engine: RiskEngine, conversations: list[ChallengeConversation]) -> dict[str, Any]:
    crisis, benign_ok, third_party_ok, crisis_any = _Rate(), _Rate(), _Rate(), _Rate()
    by_kind: dict[str, _Rate] = defaultdict(_Rate)
    # Last-turn level and peak level per labelled category and rung: detection misses vs carry losses.
    last_given: dict[str, Counter[str]] = defaultdict(Counter)
    peak_given: dict[str, Counter[str]] = defaultdict(Counter)
    escalated_turns = user_turns = 0
    for conv in conversations:
        turns = ((t.role, t.text) for t in conv.turns)
        assessments: list[Assessment] = [a for _, a in replay(engine.new_conversation(), turns)]
        if not assessments:
            continue
        final = assessments[-1]
        ok = True
        if _is_crisis(conv.labels):
            ok = _reached(final, conv.labels)
        elif conv.labels:
            ok = _reached_any(final, conv.labels)
        if conv.max_labels:
            ok = ok and all(a.level(c) <= lv for a in assessments for c, lv in conv.max_labels.items())
        if conv.self_max:
            own = [a for a in assessments if a.subject != Subject.OTHER]
            tp_ok = all(a.level(c) <= lv for a in own for c, lv in conv.self_max.items())
            third_party_ok.add(tp_ok)
            ok = ok and tp_ok
        if _is_crisis(conv.labels):
            crisis.add(ok)
            crisis_any.add(any(_reached(a, conv.labels) for a in assessments))
            for c, lv in crisis_labels(conv.labels).items():
                last_given[f"{c.value}={lv.label}"][final.level(c).label] += 1
                peak_given[f"{c.value}={lv.label}"][max(a.level(c) for a in assessments).label] += 1
        else:
            benign_ok.add(ok)
            user_turns += len(assessments)
            escalated_turns += sum(a.top_level >= Level.MODERATE for a in assessments)
        by_kind[f"kind:{conv.kind}"].add(ok)
        by_kind[f"author:{conv.author}"].add(ok)
        by_kind[f"lang:{conv.lang}"].add(ok)
    return {
        "n_conversations": len(conversations),
        "crisis_reached_at_last_turn": crisis.to_dict(),
        "crisis_reached_at_any_turn": crisis_any.to_dict(),
        "crisis_level_given_last_turn": {k: dict(sorted(v.items())) for k, v in sorted(last_given.items())},
        "crisis_level_given_peak": {k: dict(sorted(v.items())) for k, v in sorted(peak_given.items())},
        "non_crisis_within_limits": benign_ok.to_dict(),
        "third_party_not_read_as_own": third_party_ok.to_dict(),
        "non_crisis_turns_at_moderate_per_1000": 1000 * escalated_turns / user_turns if user_turns else None,
        "by_kind": {k: v.to_dict() for k, v in sorted(by_kind.items())},
    }


def evaluate(engine: RiskEngine, root: Path | None = None) -> dict[str, Any]:
    root = root or default_dir()
    verify(root)
    messages, conversations = load(root)
    return {
        "sha256": {n: sha256(root / n) for n in FILES},
        "messages": evaluate_messages(engine, messages),
        "conversations": evaluate_conversations(engine, conversations),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mindrail.training.challenge")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="merge the parts, derive the scripted variants, write SHA256SUMS")
    b.add_argument("--dir", type=Path, default=None)
    v = sub.add_parser("verify", help="check the frozen digests")
    v.add_argument("--dir", type=Path, default=None)
    e = sub.add_parser("eval", help="aggregate figures of the installed engine (JSON)")
    e.add_argument("--dir", type=Path, default=None)
    args = p.parse_args(argv)
    root = args.dir or default_dir()
    if args.cmd == "build":
        print(json.dumps(build(root)))
    elif args.cmd == "verify":
        verify(root)
        print("ok")
    else:
        from mindrail.risk.engine import RiskEngine

        print(json.dumps(evaluate(RiskEngine.load(), root), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
