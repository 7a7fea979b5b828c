"""The care tools inside the guarded turn (docs/care.md): the structured risk inquiry, check-ins taken by chat,
and the safety plan's offer and reminder.

:class:`CareDesk` runs after the turn's assessment and decision and before any model call. When a care tool owns
the turn it returns a :class:`CareStep`: vetted text (the screener's questions, a check-in item, the score), the
records to store, and possibly a level the answers raised (the turn is then decided again with it, so a "yes" to
intent gets the crisis protocol and an escalation as any high risk does). A crisis always comes first: with a
crisis-protocol decision the desk only stops what was running.

Nothing here generates text: every word comes from ``care/data`` or the policy's messages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mindrail.care.answers import Reading, default_reader
from mindrail.care.checkin import CheckIn, ItemAnswer
from mindrail.care.exercises import exercise, offer_text, render, suggest
from mindrail.care.inquiry import SSH, Answer, Inquiry, known_from, load_screener, wants_inquiry
from mindrail.care.instruments import load_instrument
from mindrail.care.safety_plan import SafetyPlan
from mindrail.policy.decide import Decision, PolicyEngine
from mindrail.risk.types import Assessment, Category, CategoryResult, Level, Subject


@dataclass(frozen=True, slots=True)
class CareWrite:
    """A care record for the store (``Store.add_care_record``)."""

    kind: str
    payload: dict[str, Any]
    instrument: str | None = None
    review: tuple[int, str] | None = None
    """(level, category): a clinician must see it (a ``care`` review item)."""


@dataclass(frozen=True, slots=True)
class CareStep:
    reply: str
    writes: tuple[CareWrite, ...] = ()
    raised: Level | None = None
    """A suicide level the answers raised above the engine's: decide the turn again with it."""
    reason: str | None = None


@dataclass
class CareState:
    """One conversation's care tools, kept on the gateway session (and rebuilt from the store's inquiry records)."""

    inquiry: Inquiry | None = None
    inquired_at: Level = Level.NONE
    """The suicide level the last inquiry started at: a new one starts only if risk later rises above it."""
    checkin: CheckIn | None = None
    plan: SafetyPlan | None = None
    plan_offered: bool = False
    plan_shown_at: Level = Level.NONE
    exercise_offered: str | None = None
    """The exercise offered in the last reply: a yes to the next message shows it."""
    exercise_offers: int = 0
    last_checkin: dt.datetime | None = None
    checkin_offered: bool = False
    pending: list[CareWrite] = field(default_factory=list)
    """Records to store with the turn even though no care tool owns it (a check-in stopped by a crisis)."""


def inquiry_snapshot(inquiry: Inquiry, level: Level, event: str) -> dict[str, Any]:
    """What the store keeps of an inquiry after each step: enough to rebuild it, and the person's words for the
    clinician."""
    return {
        "event": event,
        "known": {k: v.value for k, v in inquiry.known.items()},
        "answers": [
            {"question": a.question, "reading": a.reading.value, "text": a.text, "retried": a.retried}
            for a in inquiry.answers
        ],
        "asked": inquiry.asked,
        "retrying": inquiry.retrying,
        "stopped": inquiry.stopped,
        "triage": inquiry.level().label,
        "started_at": level.label,
    }


def checkin_snapshot(run: CheckIn, stopped: str | None = None) -> dict[str, Any]:
    """A check-in taken by chat, so far: enough to go on after a restart."""
    return {
        "instrument": run.instrument.id,
        "answers": [
            {"item": a.item, "value": a.value, "text": a.text, "asked_again": a.asked_again} for a in run.answers
        ],
        "asking_again": run.asking_again,
        "stopped": stopped,
    }


def restore_checkin(snapshot: dict[str, Any]) -> CheckIn | None:
    """The check-in a snapshot describes, or None when it was stopped."""
    if snapshot.get("stopped"):
        return None
    run = CheckIn.start(snapshot["instrument"])
    run.answers = [
        ItemAnswer(a["item"], a["value"], a.get("text", ""), bool(a.get("asked_again"))) for a in snapshot["answers"]
    ]
    run.asking_again = bool(snapshot.get("asking_again"))
    return None if run.done else run


def restore_inquiry(snapshot: dict[str, Any]) -> tuple[Inquiry, Level]:
    inquiry = Inquiry(known={k: Reading(v) for k, v in snapshot.get("known", {}).items()})
    inquiry.answers = [
        Answer(a["question"], Reading(a["reading"]), a.get("text", ""), bool(a.get("retried")))
        for a in snapshot["answers"]
    ]
    inquiry.asked = snapshot.get("asked")
    inquiry.retrying = bool(snapshot.get("retrying"))
    inquiry.stopped = snapshot.get("stopped")
    return inquiry, Level.parse(snapshot.get("started_at", "low"))


def raised_assessment(a: Assessment, level: Level, reason: str) -> Assessment:
    """The assessment with the person's own suicide level raised by the screener's answers (a rise: the policy
    escalates it)."""
    old = a.categories[SSH]
    new = CategoryResult(old.score, max(old.level, level), old.evidence, (*old.reasons, reason))
    subject = a.subject if a.subject != Subject.OTHER else Subject.SELF
    rose = frozenset(a.rose or ()) | {SSH}
    return dataclasses.replace(a, categories={**a.categories, SSH: new}, subject=subject, rose=rose)


class CareDesk:
    """The policy's care settings applied to each turn."""

    def __init__(self, policy: PolicyEngine) -> None:
        self.policy = policy
        self.screener = load_screener()
        self.screener_reader = default_reader()

    # ------------------------------------------------------------------ the turn
    def step(self, state: CareState, text: str, a: Assessment, d: Decision, locale: str | None) -> CareStep | None:
        """The care tool that owns this turn, if any. Called for every turn after its decision."""
        if not d.calls_model:
            # A crisis comes first: stop asking, and let the crisis protocol answer.
            if state.inquiry is not None and state.inquiry.asked is not None:
                state.inquiry.asked, state.inquiry.stopped = None, "crisis"
                state.pending.append(CareWrite("inquiry", inquiry_snapshot(state.inquiry, state.inquired_at, "crisis")))
            if state.checkin is not None:
                state.pending.append(CareWrite("checkin_progress", checkin_snapshot(state.checkin, "crisis")))
                state.checkin = None
            return None
        if state.exercise_offered is not None:
            offered, state.exercise_offered = state.exercise_offered, None
            if a.level(SSH) == Level.NONE and self.screener_reader.yes_no(text) == Reading.YES:
                return CareStep(render(exercise(offered)))
        if state.checkin is not None:
            return self._checkin_answer(state, text, a, locale)
        if state.inquiry is not None and state.inquiry.asked is not None:
            return self._inquiry_answer(state, text, a, locale)
        return self._maybe_start_inquiry(state, a, locale)

    def _band(self) -> tuple[Level, Level]:
        s = self.policy.care.inquiry
        return Level.parse(s.from_level), Level.parse(s.to_level)

    def _maybe_start_inquiry(self, state: CareState, a: Assessment, locale: str | None) -> CareStep | None:
        settings = self.policy.care.inquiry
        lowest, highest = self._band()
        level = a.level(SSH)
        if not settings.enabled or not wants_inquiry(a, lowest=lowest, highest=highest):
            return None
        if state.inquiry is not None and level <= state.inquired_at:
            return None  # asked already at this level: not again unless risk rises
        inquiry = Inquiry(known=known_from(a))
        question = inquiry.ask()
        if question is None:
            return None
        state.inquiry, state.inquired_at = inquiry, level
        reply = f"{question}\n\n{self.policy.support_footer(locale)}"
        return CareStep(reply, (CareWrite("inquiry", inquiry_snapshot(inquiry, level, "started")),))

    def _inquiry_answer(self, state: CareState, text: str, a: Assessment, locale: str | None) -> CareStep:
        inquiry = state.inquiry
        assert inquiry is not None
        reading = inquiry.answer(text, a)
        if inquiry.retrying:
            return CareStep(
                self.screener.retry, (CareWrite("inquiry", inquiry_snapshot(inquiry, state.inquired_at, "unclear")),)
            )
        if reading == Reading.DECLINED:
            snap = inquiry_snapshot(inquiry, state.inquired_at, "declined")
            return CareStep(
                f"{self.screener.declined}\n\n{self.policy.support_footer(locale)}", (CareWrite("inquiry", snap),)
            )
        question = inquiry.ask()
        if question is not None:
            snap = inquiry_snapshot(inquiry, state.inquired_at, "answered")
            return CareStep(question, (CareWrite("inquiry", snap),))
        triage = inquiry.level()
        raised = triage if triage > a.level(SSH) else None
        review = (int(triage), SSH.value) if triage >= Level.MODERATE else None
        snap = inquiry_snapshot(inquiry, state.inquired_at, "completed")
        reply = f"{self.screener.done}\n\n{self.policy.support_footer(locale)}"
        if triage >= Level.MODERATE and self.policy.care.offer_safety_plan and state.plan is None:
            reply += "\n\n" + self.policy.message("safety_plan_offer", locale)
            state.plan_offered = True
        return CareStep(reply, (CareWrite("inquiry", snap, review=review),), raised, f"cssrs_screener:{triage.label}")

    # ------------------------------------------------------------------ check-ins by chat
    def start_checkin(self, state: CareState, instrument: str) -> str:
        """Begin a check-in taken one item per turn; returns the first item's question."""
        load_instrument(instrument)  # unknown name: KeyError
        state.checkin = CheckIn.start(instrument)
        prompt = state.checkin.prompt()
        assert prompt is not None
        return prompt

    def checkin_started(self, state: CareState) -> CareWrite:
        """The record of a check-in just started by chat (so a restart before its first answer keeps it)."""
        assert state.checkin is not None
        return CareWrite("checkin_progress", checkin_snapshot(state.checkin))

    def _checkin_answer(self, state: CareState, text: str, a: Assessment, locale: str | None) -> CareStep:
        run = state.checkin
        assert run is not None
        run.answer(text)
        prompt = run.prompt()
        if prompt is not None:
            return CareStep(prompt, (CareWrite("checkin_progress", checkin_snapshot(run)),))
        state.checkin = None
        state.last_checkin = dt.datetime.now(dt.UTC)
        score = run.score()
        inst = run.instrument
        payload: dict[str, Any] = {
            "mode": "chat",
            "values": run.values,
            "texts": [x.text for x in run.answers],
            "asked_again": [x.asked_again for x in run.answers],
        }
        if score is None:
            payload.update(total=None, band=None, safety_items=[])
            reply = (
                "Thank you for answering. I couldn't be sure of every answer, so I haven't worked out a score. You can"
                " take it again, or fill it in as a form, whenever you like."
            )
        else:
            payload.update(total=score.total, band=score.band, safety_items=list(score.safety_items))
            reply = (
                f"Thank you. Your {inst.spec.title.split(' (')[0]} total is {score.total} out of {inst.max_total}"
                f" ({score.band}). {score.plain} This is a check-in, not a diagnosis."
            )
        review = (int(Level.MODERATE), SSH.value) if run.safety_event else None
        write = CareWrite("checkin", payload, inst.id, review)
        if not run.safety_event:
            return CareStep(reply, (write,))
        # PHQ-9 item 9 above 0: a clinician sees it, and the risk inquiry starts now (its wish-to-be-dead item is
        # answered yes).
        inquiry = Inquiry(known={"wish_dead": Reading.YES})
        question = inquiry.ask()
        state.inquiry, state.inquired_at = inquiry, max(a.level(SSH), Level.LOW)
        snap = inquiry_snapshot(inquiry, state.inquired_at, "started")
        reply = f"{reply}\n\n{question}\n\n{self.policy.support_footer(locale)}"
        return CareStep(reply, (write, CareWrite("inquiry", snap)))

    # ------------------------------------------------------------------ the safety plan
    def decorate(self, state: CareState, reply: str, d: Decision, locale: str | None, user_text: str = "") -> str:
        """What the care tools add beneath a reply: after a crisis protocol or a moderate risk, the safety plan's
        offer (once) or the person's own plan again when risk returns; with distress and nothing higher, a fitting
        exercise (once a conversation); and a check-in when the policy's interval has passed (once)."""
        at_risk = not d.calls_model or d.level >= Level.MODERATE
        if at_risk:
            return self._plan(state, reply, d, locale)
        if (
            d.category == Category.DISTRESS
            and d.level >= Level.LOW
            and state.exercise_offers == 0
            and (fit := suggest(user_text)) is not None
        ):
            state.exercise_offered, state.exercise_offers = fit.id, state.exercise_offers + 1
            return f"{reply}\n\n{offer_text(fit)}"
        every = self.policy.care.checkin_every_days
        if every is not None and not state.checkin_offered and state.checkin is None:
            now = dt.datetime.now(dt.UTC)
            if state.last_checkin is None or now - state.last_checkin >= dt.timedelta(days=every):
                state.checkin_offered = True
                return f"{reply}\n\n{self.policy.message('checkin_offer', locale)}"
        return reply

    def _plan(self, state: CareState, reply: str, d: Decision, locale: str | None) -> str:
        if not self.policy.care.offer_safety_plan:
            return reply
        if state.plan is not None and not state.plan.empty:
            if d.level <= state.plan_shown_at:
                return reply
            state.plan_shown_at = d.level
            return f"{reply}\n\n{self.policy.message('safety_plan_reminder', locale)}\n\n{state.plan.to_markdown()}"
        if state.plan_offered:
            return reply
        state.plan_offered = True
        return f"{reply}\n\n{self.policy.message('safety_plan_offer', locale)}"
