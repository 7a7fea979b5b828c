"""Measuring the practice simulator on material it was not built from: the coder and the behaviour patterns on
the practice-domain test file (``data/practice/eval/trainee_turns.test.jsonl``, writer pe-c, who wrote nothing
else here), and scripted sessions on every card (reachability, ratings, determinism, how quickly people open up
and resolve, time per trainee turn). Aggregates only, never a line's text."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from mindrail.datafiles import StrictModel, read_jsonl
from mindrail.practice.behaviours import BEHAVIOURS, default_reader
from mindrail.practice.cards import Act, cards
from mindrail.practice.coder import CODES, SkillCoder
from mindrail.practice.report import report
from mindrail.practice.session import PracticeSession
from mindrail.practice.trainees import GoodTrainee, PoorTrainee
from mindrail.stats import macro_f1


class TraineeTurn(StrictModel):
    """A line of the practice-domain sets (``data/practice/eval``): a trainee's reply, coded."""

    id: str
    context: str
    text: str
    code: Act
    behaviours: tuple[Act, ...] = ()
    writer: str


def default_eval_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "data" / "practice" / "eval"


def evaluate_trainee_turns(path: Path, coder: SkillCoder) -> dict[str, Any]:
    """The coder's 7 codes and each behaviour's precision, recall and F1 on a coded file."""
    lines = list(read_jsonl(path, TraineeTurn))
    vectors = coder.embed([x.text for x in lines])
    codes = coder.code_vectors(vectors)
    gold = [x.code.value for x in lines]
    pred = [c.act.value for c in codes]
    f1, per = macro_f1(gold, pred, [a.value for a in CODES])
    main_of = {
        a.value: m
        for m, pair in (("reflection", CODES[:2]), ("question", CODES[2:4]), ("therapist_input", CODES[4:6]))
        for a in pair
    }
    f1_main, per_main = macro_f1(
        [main_of.get(g, "other") for g in gold],
        [c.main for c in codes],
        ["other", "question", "reflection", "therapist_input"],
    )
    reader = default_reader()
    found = [reader.read(x.text, v, context=x.context) for x, v in zip(lines, vectors, strict=True)]
    patterns = [reader.patterns(x.text) for x in lines]
    behaviours: dict[str, dict[str, float | int]] = {}

    def prf(b: Act, reads: list[frozenset[Act]]) -> dict[str, float | int]:
        tp = sum(b in f and b in x.behaviours for f, x in zip(reads, lines, strict=True))
        fp = sum(b in f and b not in x.behaviours for f, x in zip(reads, lines, strict=True))
        fn = sum(b not in f and b in x.behaviours for f, x in zip(reads, lines, strict=True))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return {
            "n": tp + fn,
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        }

    for b in BEHAVIOURS:
        behaviours[b.value] = prf(b, found)
    alone = {b.value: prf(b, patterns) for b in BEHAVIOURS}

    def pooled(reads: list[frozenset[Act]]) -> dict[str, float]:
        tp = sum(len(f & set(x.behaviours)) for f, x in zip(reads, lines, strict=True))
        fp = sum(len(f - set(x.behaviours)) for f, x in zip(reads, lines, strict=True))
        fn = sum(len(set(x.behaviours) - f) for f, x in zip(reads, lines, strict=True))
        return {"precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4)}

    return {
        "lines": len(lines),
        "writers": sorted({x.writer for x in lines}),
        "codes7_macro_f1": round(f1, 4),
        "codes7_f1": {k: round(v, 4) for k, v in per.items()},
        "main_macro_f1": round(f1_main, 4),
        "main_f1": {k: round(v, 4) for k, v in per_main.items()},
        "accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / max(len(lines), 1), 4),
        "behaviours": behaviours,
        "behaviours_patterns_only": alone,
        "behaviours_pooled": pooled(found),
        "behaviours_pooled_patterns_only": pooled(patterns),
        "learned_heads": reader.learned,
    }


def evaluate_simulations(coder: SkillCoder, seeds: tuple[int, ...] = (1, 2, 3)) -> dict[str, Any]:
    """Every card with the scripted good and poor trainee, over ``seeds``: ratings, resolution, turns to reach
    openness 3 and to resolve, missed moments, determinism (each session run twice), and time per turn."""
    per_card: list[dict[str, Any]] = []
    times: list[float] = []
    deterministic = True
    for c in cards():
        for who, make in (("good", GoodTrainee), ("poor", PoorTrainee)):
            for seed in seeds:
                runs = []
                for _ in range(2):
                    s = PracticeSession(c, coder, seed=seed)
                    s.start()
                    trainee = make()
                    while not s.ended:
                        text = trainee.reply(s)
                        t0 = time.perf_counter()
                        s.step(text)
                        times.append(time.perf_counter() - t0)
                    runs.append(s)
                a, b = ([e.to_dict() for e in r.record.entries] for r in runs)
                deterministic &= a == b
                s = runs[0]
                rep = report(c, s.record)
                opened = next((e.turn for e in s.record.entries if e.role == "person" and (e.openness or 0) >= 3), None)
                per_card.append(
                    {
                        "card": c.id,
                        "trainee": who,
                        "seed": seed,
                        "rating": rep.rating,
                        "resolved": s.record.resolved,
                        "turns": s.trainee_turns,
                        "turn_openness_3": opened,
                        "missed_moments": sum(1 for m in s.record.book.settled if not m.caught),
                        "moments": len(s.record.book.settled),
                    }
                )
    good = [r for r in per_card if r["trainee"] == "good"]
    poor = [r for r in per_card if r["trainee"] == "poor"]
    times_ms = sorted(t * 1000 for t in times)
    return {
        "cards": len(cards()),
        "seeds": list(seeds),
        "deterministic": deterministic,
        "good_resolved": sum(r["resolved"] for r in good),
        "good_rated_good": sum(r["rating"] == "good" for r in good),
        "poor_below_fair": sum(r["rating"] == "below fair" for r in poor),
        "poor_resolved": sum(r["resolved"] for r in poor),
        "sessions_per_trainee": len(good),
        "good_turns_to_resolve_median": statistics.median(r["turns"] for r in good if r["resolved"]),
        "good_turns_to_resolve_min": min(r["turns"] for r in good if r["resolved"]),
        "good_turn_openness_3_median": statistics.median(
            r["turn_openness_3"] for r in good if r["turn_openness_3"] is not None
        ),
        "poor_reached_openness_3": sum(r["turn_openness_3"] is not None for r in poor),
        "good_missed_moments": sum(r["missed_moments"] for r in good),
        "good_moments": sum(r["moments"] for r in good),
        "poor_missed_moments": sum(r["missed_moments"] for r in poor),
        "poor_moments": sum(r["moments"] for r in poor),
        "turn_ms_p50": round(statistics.median(times_ms), 2),
        "turn_ms_p99": round(times_ms[min(len(times_ms) - 1, int(0.99 * len(times_ms)))], 2),
        "turns_timed": len(times_ms),
        "per_card": per_card,
    }
