"""Measuring the care tools on scripted people (``data/care/``): scoring, conversational check-ins, the risk
inquiry. Each ``*.jsonl`` set records its writer; ``dev`` files may be read while building the readers, ``test``
files were written by other writers and are only measured (docs/care.md, "Evaluation").

A scripted person answers exactly as written. When the tool asks again, the person gives the reply the writer
wrote for that case (``clarified`` / ``then``); where the writer wrote none (the writer found the first answer
clear, the reader did not), the person picks the option in the published words of their intended answer, as a
person shown the options would. Both the first reading and the final one are reported, with the number of items
asked again, so the cost of asking is visible.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import Field

from mindrail.care.answers import Reading, default_reader
from mindrail.care.checkin import CheckIn
from mindrail.care.inquiry import SSH, Inquiry, known_from, wants_inquiry
from mindrail.care.instruments import load_instrument
from mindrail.datafiles import StrictModel, read_jsonl
from mindrail.risk.types import Level
from mindrail.stats import icc_a1


class ItemLine(StrictModel):
    item: int = Field(ge=1)
    text: str
    value: int | None = Field(ge=0, le=3)
    clarified: str | None = None
    clarified_value: int | None = Field(default=None, ge=0, le=3)

    @property
    def intended(self) -> int:
        value = self.value if self.value is not None else self.clarified_value
        if value is None:
            raise ValueError(f"item {self.item}: no value and no clarified_value")
        return value


class PersonLine(StrictModel):
    id: str
    writer: str
    instrument: Literal["phq9", "gad7"]
    persona: str
    style: str
    answers: tuple[ItemLine, ...]
    total: int


class AnswerLine(StrictModel):
    text: str
    reading: Reading
    then: str | None = None
    then_reading: Reading | None = None

    @property
    def final(self) -> Reading:
        return self.then_reading if self.reading == Reading.UNCLEAR and self.then_reading else self.reading


class Expect(StrictModel):
    imminent: bool
    declines_at: str | None
    level: Literal["low", "moderate", "high", "imminent"]


class ConversationLine(StrictModel):
    id: str
    writer: str
    style: str
    scenario: str
    opening: tuple[str, ...] = Field(min_length=1)
    answers: dict[str, AnswerLine]
    expect: Expect


M = TypeVar("M", bound=StrictModel)


# ---------------------------------------------------------------------------------------------- scoring
def evaluate_scoring(path: Path) -> dict[str, Any]:
    """The authored scoring table (``scoring_table.csv``): total, band and item-9 flag per row."""
    rows = ok = 0
    bands: Counter[str] = Counter()
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            score = load_instrument(row["instrument"]).score([int(v) for v in row["answers"].split()])
            item9 = "n/a" if row["instrument"] != "phq9" else ("yes" if score.safety_event else "no")
            good = score.total == int(row["total"]) and score.band == row["band"] and item9 == row["item9_safety"]
            ok += good
            bands[f"{row['instrument']}:{row['band']}"] += 1
    return {"rows": rows, "correct": ok, "rate": ok / rows if rows else None, "bands": dict(sorted(bands.items()))}


# ---------------------------------------------------------------------------------------------- check-ins
def evaluate_checkins(path: Path) -> dict[str, Any]:
    """Every person takes their instrument by chat; item agreement (first reading and final), totals' ICC(A,1),
    items asked again, items left unanswered, and item-9 safety events caught."""
    reader = default_reader()
    people = items = first_ok = final_ok = asked_again = unanswered = wrong_confident = 0
    safety_expected = safety_caught = 0
    intended_totals: list[int] = []
    got_totals: list[int] = []
    by_style: Counter[str] = Counter()
    by_style_ok: Counter[str] = Counter()
    for person in read_jsonl(path, PersonLine):
        people += 1
        inst = load_instrument(person.instrument)
        run = CheckIn(inst, reader)
        for line in person.answers:
            items += 1
            first = reader.frequency(line.text).value
            first_ok += first == line.value
            wrong_confident += first is not None and first != line.intended
            value = run.answer(line.text)
            if value is None and not run.done and run.asking_again:
                asked_again += 1
                reply = line.clarified or inst.option(line.intended).text
                value = run.answer(reply)
            unanswered += value is None
            ok = value == line.intended
            final_ok += ok
            by_style[person.style] += 1
            by_style_ok[person.style] += ok
        intended = [line.intended for line in person.answers]
        intended_totals.append(sum(intended))
        got_totals.append(sum(v or 0 for v in run.values))
        if person.instrument == "phq9" and intended[8] > 0:
            safety_expected += 1
            safety_caught += run.safety_event
    icc = icc_a1(np.array(intended_totals), np.array(got_totals)) if people > 1 else math.nan
    return {
        "people": people,
        "items": items,
        "item_agreement_first_reading": first_ok / items if items else None,
        "item_agreement_final": final_ok / items if items else None,
        "items_asked_again": asked_again,
        "items_left_unanswered": unanswered,
        "items_read_wrongly_without_asking": wrong_confident,
        "total_icc_a1": icc,
        "totals_exact": sum(a == b for a, b in zip(intended_totals, got_totals, strict=True)),
        "item9_safety_events": {"expected": safety_expected, "caught": safety_caught},
        "by_style": {s: by_style_ok[s] / n for s, n in sorted(by_style.items())},
    }


# ---------------------------------------------------------------------------------------------- inquiry
NEUTRAL_REPLY = "I'm here with you. Tell me more about how things have been."


def play_inquiry(line: ConversationLine, engine: Any) -> dict[str, Any]:
    """One scripted conversation through the real risk engine and the inquiry: the opening turns, then (unless
    the engine or policy says crisis) the screener's questions, answered from the script."""
    from mindrail.policy.decide import Policy
    from mindrail.policy.schema import Action

    policy = Policy.load()
    state = engine.new_conversation()
    assessment = None
    for text in line.opening:
        assessment = state.add_user(text)
        state.add_assistant(NEUTRAL_REPLY)
    assert assessment is not None
    decision = policy.decide(assessment)
    crisis = Action.CRISIS_PROTOCOL in decision.actions
    out: dict[str, Any] = {"id": line.id, "asked": 0, "asked_after_decline": 0, "crisis_at_opening": crisis}
    if crisis or not wants_inquiry(assessment):
        out["started"] = False
        out["declined_at"] = None
        out["level"] = Level.IMMINENT if crisis and assessment.level(SSH) >= Level.IMMINENT else assessment.level(SSH)
        if crisis and out["level"] < Level.HIGH:
            out["level"] = Level.HIGH
        return out
    out["started"] = True
    inquiry = Inquiry(known=known_from(assessment))
    declined_at: str | None = None
    while (question := inquiry.ask()) is not None:
        qid = inquiry.asked
        assert qid is not None
        out["asked"] += 1
        if declined_at is not None:
            out["asked_after_decline"] += 1
        script = line.answers.get(qid)
        if script is None:
            raise ValueError(f"{line.id}: no scripted answer to {qid}")
        text = script.text
        if inquiry.retrying:
            text = script.then or {"yes": "yes", "no": "no", "declined": "I'd rather not say"}.get(script.final, "idk")
        a = state.add_user(text)
        state.add_assistant(question)
        if policy.decide(a).actions & {Action.CRISIS_PROTOCOL} and a.level(SSH) >= Level.HIGH:
            inquiry.stopped = "crisis"
            inquiry.asked = None
            out["level"] = a.level(SSH)
            break
        was_retry = inquiry.retrying
        inquiry.answer(text, a)
        said = (script.then_reading or script.final) if was_retry else script.reading
        if said == Reading.DECLINED and declined_at is None:
            declined_at = qid
    else:
        out["level"] = inquiry.level()
    out["stopped"] = inquiry.stopped
    out["declined_at"] = declined_at
    out["readings"] = {a.question: a.reading.value for a in inquiry.answers}
    return out


def evaluate_inquiry(path: Path, engine: Any) -> dict[str, Any]:
    """Triage level after the inquiry against the intended level; inquiries during an imminent crisis; declines
    respected (no question after the person declined); answer readings against the writer's."""
    n = level_ok = imminent = imminent_asked = declines = declines_respected = 0
    handled = handled_ok = 0
    readings = readings_ok = 0
    confusion: Counter[str] = Counter()
    for line in read_jsonl(path, ConversationLine):
        n += 1
        r = play_inquiry(line, engine)
        want = Level.parse(line.expect.level)
        got = r["level"]
        level_ok += got == want
        if r["started"] or r["crisis_at_opening"]:
            handled += 1  # the engine saw the opening's risk: the inquiry started, or the crisis protocol ran
            handled_ok += got == want
        confusion[f"{want.label}->{Level(got).label}"] += 1
        if line.expect.imminent:
            imminent += 1
            imminent_asked += r["asked"] > 0
        if line.expect.declines_at and r["declined_at"] is not None:
            # Only where the declining question was asked (an earlier answer may have ended the inquiry first).
            declines += 1
            declines_respected += r["asked_after_decline"] == 0
        for q, reading in r.get("readings", {}).items():
            readings += 1
            readings_ok += reading == line.answers[q].final.value
    return {
        "conversations": n,
        "level_match": level_ok / n if n else None,
        "level_matches": level_ok,
        "openings_handled": handled,
        "level_match_when_handled": handled_ok / handled if handled else None,
        "imminent_conversations": imminent,
        "imminent_with_a_question": imminent_asked,
        "declines_reached": declines,
        "declines_respected": declines_respected,
        "answer_readings": readings,
        "answer_reading_agreement": readings_ok / readings if readings else None,
        "confusion": dict(sorted(confusion.items())),
    }


def default_dir() -> Path:
    """``data/care`` of a source checkout (the sets are evaluation material, not shipped in the wheel)."""
    here = Path(__file__).resolve()
    return next((p / "data" / "care" for p in here.parents if (p / "data" / "care").is_dir()), Path("data/care"))


def evaluate(engine: Any, split: str = "test", root: Path | None = None) -> dict[str, Any]:
    """Every care measure on one split (``dev``: readable while building; ``test``: measured only)."""
    root = root or default_dir()
    return {
        "split": split,
        "scoring": evaluate_scoring(root / "scoring_table.csv"),
        "checkins": evaluate_checkins(root / "checkins" / f"{split}.jsonl"),
        "inquiry": evaluate_inquiry(root / "inquiry" / f"{split}.jsonl", engine),
    }
