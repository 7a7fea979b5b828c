"""The session report: MITI 4.2.1-style summary figures from the coded turns, the module's checklist against its
thresholds, the moments caught and missed, and a rating (below fair / fair / good). Exports as JSON and as a
self-contained HTML page; ``progress`` plots a trainee's figures across sessions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import Field, model_validator

from mindrail.datafiles import StrictModel, load_model
from mindrail.practice.cards import Act, Cssrs, Module, PersonaCard
from mindrail.practice.feedback import MISSTEPS
from mindrail.practice.session import SessionRecord

Rating = Literal["below fair", "fair", "good"]
RATINGS: tuple[Rating, ...] = ("below fair", "fair", "good")
MEASURES = ("reflection_to_question", "complex_reflection_share", "open_question_share")


class Band(StrictModel):
    fair: float
    good: float


class Check(StrictModel):
    id: str
    text: str
    act: Act | None = None
    any_of: tuple[Act, ...] = ()
    never: Act | None = None
    measure: str | None = None
    at_least: float | None = None
    moments: bool = False
    if_risk: bool = False
    required: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [
            self.act is not None,
            bool(self.any_of),
            self.never is not None,
            self.measure is not None,
            self.moments,
        ]
        if sum(kinds) != 1:
            raise ValueError("a check is exactly one of act, any_of, never, measure, moments")
        if self.measure is not None and (self.measure not in MEASURES or self.at_least is None):
            raise ValueError(f"measure must be one of {MEASURES} with at_least")
        return self


class ModuleSpec(StrictModel):
    title: str
    checks: tuple[Check, ...] = Field(min_length=1)


class ModuleFile(StrictModel):
    version: int
    thresholds: dict[str, Band]
    modules: dict[Module, ModuleSpec]

    @model_validator(mode="after")
    def _complete(self) -> ModuleFile:
        missing = [m.value for m in Module if m not in self.modules]
        if missing:
            raise ValueError(f"modules: missing {missing}")
        for key in ("reflection_to_question", "complex_reflection_share"):
            if key not in self.thresholds:
                raise ValueError(f"thresholds: missing {key}")
        return self


@cache
def module_file() -> ModuleFile:
    return load_model(ModuleFile, "data/modules.yaml", package="mindrail.practice")


@dataclass(frozen=True, slots=True)
class Summary:
    """MITI-style counts and summary figures of a session's (or a dialogue's) coded trainee turns."""

    turns: int
    reflections: int
    complex_reflections: int
    questions: int
    open_questions: int
    information: int
    advice: int
    other: int
    adherent: int
    """Proxy for MITI's MI-adherent count: complex reflections and open questions (the coder has no affirm /
    seek-collaboration / emphasise-autonomy codes)."""
    non_adherent: int
    """Proxy for MITI's MI non-adherent count (confront, persuade): advice, judgement and minimising turns."""

    @property
    def reflection_to_question(self) -> float | None:
        return self.reflections / self.questions if self.questions else None

    @property
    def complex_reflection_share(self) -> float | None:
        return self.complex_reflections / self.reflections if self.reflections else None

    @property
    def open_question_share(self) -> float | None:
        return self.open_questions / self.questions if self.questions else None

    def value(self, measure: str) -> float | None:
        v: float | None = getattr(self, measure)
        return v

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for m in MEASURES:
            v = self.value(m)
            out[m] = None if v is None else round(v, 4)
        return out


def summarise(turns: Iterable[frozenset[Act]]) -> Summary:
    """Counts over turns, each given as its acts (the skill code plus behaviours)."""
    c = {k: 0 for k in ("n", "r", "cr", "q", "oq", "info", "adv", "oth", "adh", "non")}
    for acts in turns:
        c["n"] += 1
        cr = Act.REFLECTION_COMPLEX in acts
        r = cr or Act.REFLECTION_SIMPLE in acts
        oq = Act.QUESTION_OPEN in acts
        q = oq or Act.QUESTION_CLOSED in acts
        c["r"] += r
        c["cr"] += cr
        c["q"] += q
        c["oq"] += oq
        c["info"] += Act.INFORMATION in acts
        c["adv"] += Act.ADVICE in acts
        c["oth"] += Act.OTHER in acts
        c["adh"] += cr or oq
        c["non"] += bool(acts & (MISSTEPS - {Act.PROMISED_SECRECY}))
    return Summary(c["n"], c["r"], c["cr"], c["q"], c["oq"], c["info"], c["adv"], c["oth"], c["adh"], c["non"])


def rate(value: float | None, band: Band) -> Rating:
    if value is None:
        return "below fair"
    return "good" if value >= band.good else "fair" if value >= band.fair else "below fair"


@dataclass(frozen=True, slots=True)
class CheckResult:
    id: str
    text: str
    applies: bool
    passed: bool
    required: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "applies": self.applies,
            "passed": self.passed,
            "required": self.required,
        }


def run_checks(card: PersonaCard, summary: Summary, done: set[Act], missed: int) -> list[CheckResult]:
    risk = card.risk.cssrs != Cssrs.NONE
    out: list[CheckResult] = []
    for c in module_file().modules[card.module].checks:
        applies = risk or not c.if_risk
        if c.act is not None:
            ok = c.act in done
        elif c.any_of:
            ok = bool(set(c.any_of) & done)
        elif c.never is not None:
            ok = c.never not in done
        elif c.measure is not None:
            v = summary.value(c.measure)
            ok = v is not None and c.at_least is not None and v >= c.at_least
        else:
            ok = missed == 0
        out.append(CheckResult(c.id, c.text, applies, ok or not applies, c.required))
    return out


@dataclass(frozen=True, slots=True)
class Report:
    card: PersonaCard
    record: SessionRecord
    summary: Summary
    ratings: dict[str, Rating]
    checks: tuple[CheckResult, ...]
    rating: Rating

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "card": {"id": self.card.id, "name": self.card.name, "module": self.card.module.value},
            "seed": r.seed,
            "feedback_on": r.feedback_on,
            "started": r.started.isoformat(),
            "finished": r.finished.isoformat() if r.finished else None,
            "resolved": r.resolved,
            "summary": self.summary.to_dict(),
            "ratings": self.ratings,
            "rating": self.rating,
            "checks": [c.to_dict() for c in self.checks],
            "moments": [
                {"disclosure": m.disclosure, "kind": m.kind, "caught": m.caught, "note": m.note, "turn": m.turn}
                for m in r.book.settled
            ],
            "transcript": [e.to_dict() for e in r.entries],
        }


def report(card: PersonaCard, record: SessionRecord) -> Report:
    """The rating is the lower of the two MITI summary ratings (reflection-to-question, % complex), and below
    fair whenever a required check fails: good MI does not make up for a missed safety act."""
    fbs = record.feedback
    summary = summarise(f.acts for f in fbs)
    spec = module_file()
    ratings: dict[str, Rating] = {
        "reflection_to_question": rate(summary.reflection_to_question, spec.thresholds["reflection_to_question"]),
        "complex_reflection_share": rate(summary.complex_reflection_share, spec.thresholds["complex_reflection_share"]),
    }
    done: set[Act] = set()
    for f in fbs:
        done |= f.acts
    missed = sum(1 for m in record.book.settled if not m.caught)
    checks = tuple(run_checks(card, summary, done, missed))
    rating = min(ratings.values(), key=RATINGS.index)
    if any(c.required and not c.passed for c in checks):
        rating = "below fair"
    return Report(card, record, summary, ratings, checks, rating)


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("mindrail.practice", "templates"), autoescape=select_autoescape())


def to_html(rep: Report | dict[str, Any]) -> str:
    """A self-contained page (no scripts, no external assets) a trainee can keep or send to a trainer, from a
    report or its stored dict (``Report.to_dict``)."""
    data = rep.to_dict() if isinstance(rep, Report) else rep
    title = module_file().modules[Module(data["card"]["module"])].title
    return _env().get_template("report.html").render(r=data, title=title)


def progress_rows(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per session (oldest first): its date, card and summary figures, for tables and plots."""
    rows = []
    for rep in sorted(reports, key=lambda r: str(r["started"])):
        s = rep["summary"]
        rows.append(
            {
                "started": rep["started"],
                "card": rep["card"]["id"],
                "rating": rep["rating"],
                "reflection_to_question": s["reflection_to_question"],
                "complex_reflection_share": s["complex_reflection_share"],
                "open_question_share": s["open_question_share"],
                "missed_moments": sum(1 for m in rep["moments"] if not m["caught"]),
            }
        )
    return rows
