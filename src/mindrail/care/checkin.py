"""Taking a check-in in conversation: one item per turn, free-text answers read as 0-3, confirmed when unclear.

:class:`CheckIn` is one administration. It asks each item's ``ask`` wording; an answer the reader cannot place is
asked again with the four options named; a second unclear answer leaves the item unanswered (a questionnaire
with an unanswered item has no total, so it is never guessed). A form submits all values at once through
:meth:`CheckIn.from_values`. Item 9 of the PHQ-9 above 0 is a safety event the moment it is answered
(:attr:`CheckIn.safety_event`), not when the questionnaire ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mindrail.care.answers import AnswerReader, default_reader
from mindrail.care.instruments import Instrument, Score, load_instrument


@dataclass(frozen=True, slots=True)
class ItemAnswer:
    item: int
    value: int | None
    """0-3, or None when still unclear after asking again."""
    text: str
    asked_again: bool = False


@dataclass
class CheckIn:
    instrument: Instrument
    reader: AnswerReader = field(default_factory=default_reader)
    answers: list[ItemAnswer] = field(default_factory=list)
    asking_again: bool = False

    @classmethod
    def start(cls, name: str) -> CheckIn:
        return cls(load_instrument(name))

    @classmethod
    def from_values(cls, name: str, values: list[int]) -> CheckIn:
        """A check-in submitted as a form: every value given, checked by the instrument's scoring."""
        inst = load_instrument(name)
        inst.score(values)  # raises on a missing or out-of-range item
        return cls(inst, answers=[ItemAnswer(i + 1, v, "") for i, v in enumerate(values)])

    @property
    def current(self) -> int | None:
        """The number of the item awaiting an answer, or None when every item is answered."""
        n = len(self.answers) + 1
        return n if n <= len(self.instrument.items) else None

    @property
    def done(self) -> bool:
        return self.current is None

    def prompt(self) -> str | None:
        n = self.current
        if n is None:
            return None
        item = self.instrument.items[n - 1]
        if self.asking_again:
            words = ", ".join(o.text.lower() for o in self.instrument.options.options[:-1])
            last = self.instrument.options.options[-1].text.lower()
            return f"Just so I record it right: which is closest for that one - {words}, or {last}?"
        prefix = f"{self.instrument.spec.title}, question {n} of {len(self.instrument.items)}. " if n == 1 else ""
        return prefix + item.ask

    def answer(self, text: str) -> int | None:
        """Read the answer to the current item. Returns the value, or None when the item is asked again (first
        unclear answer) or left unanswered (second)."""
        n = self.current
        if n is None:
            raise RuntimeError("the check-in is complete")
        reading = self.reader.frequency(text)
        value = reading.value
        if value == 0 and self.instrument.items[n - 1].safety and not _plain_zero(reading.why, text):
            # A safety item (PHQ-9 item 9) is scored 0 only from a plain "not at all": "fine", "nothing like that"
            # or "i haven't done anything" is asked again with the options, since a missed item 9 is the costly
            # error.
            value = None
        if value is None and not self.asking_again:
            self.asking_again = True
            return None
        self.answers.append(ItemAnswer(n, value, text, self.asking_again))
        self.asking_again = False
        return value

    @property
    def safety_event(self) -> bool:
        items = self.instrument.items
        return any(a.value and items[a.item - 1].safety for a in self.answers)

    @property
    def values(self) -> list[int | None]:
        return [a.value for a in self.answers]

    def score(self) -> Score | None:
        """The published score, or None while an item is unanswered or unclear."""
        vals = self.values
        if not self.done or any(v is None for v in vals):
            return None
        return self.instrument.score([v for v in vals if v is not None])


def _plain_zero(why: str, text: str) -> bool:
    """A frequency word for zero ("not at all", "never", "0"), or a bare no of at most three words ("no", "nope
    not at all")."""
    return why in ("phrase", "digit") or (why == "weak" and len(text.split()) <= 3)
