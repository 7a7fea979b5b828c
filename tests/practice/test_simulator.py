"""The simulated person: deterministic, opens slowly, discloses only when the card's conditions hold, and does
not resolve on cue."""

from __future__ import annotations

import itertools

from mindrail.practice.cards import Act, card
from mindrail.practice.simulator import Person

GOOD = frozenset({Act.REFLECTION_COMPLEX})


def _run(seed: int, acts: list[frozenset[Act]]) -> list[tuple[str, str]]:
    p = Person(card("ray_national_guard"), seed)
    out = [(p.open().source, p.open().text)]
    for a in acts:
        t = p.respond(a)
        out.append((t.source, t.text))
    return out


def test_same_seed_same_person() -> None:
    acts = [GOOD, frozenset({Act.ADVICE}), GOOD, frozenset({Act.ASKED_SUICIDE, Act.QUESTION_CLOSED})]
    assert _run(3, acts) == _run(3, acts)


def test_openness_rises_at_most_one_step_per_turn_and_needs_several_turns() -> None:
    p = Person(card("ray_national_guard"))
    levels = [p.state.openness]
    for _ in range(6):
        p.respond(GOOD)
        levels.append(p.state.openness)
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))
    assert levels[1] == levels[0]  # one perfect reflection is not enough for a guarded person


def test_judgement_closes_the_person_down() -> None:
    p = Person(card("ray_national_guard"))
    for _ in range(4):
        p.respond(GOOD)
    before = p.state.trust
    t = p.respond(frozenset({Act.JUDGEMENT, Act.OTHER}))
    assert p.state.trust < before
    assert t.source == "reaction:judgement"


def test_a_plan_is_disclosed_only_when_asked() -> None:
    p = Person(card("ray_national_guard"))
    sources = [p.respond(GOOD).source for _ in range(12)]
    assert not any(s.startswith("disclosure:plan") for s in sources)
    sources.append(p.respond(frozenset({Act.ASKED_SUICIDE, Act.QUESTION_CLOSED})).source)
    sources.append(p.respond(frozenset({Act.ASKED_PLAN, Act.QUESTION_CLOSED})).source)
    assert "disclosure:active_thoughts" in sources
    assert "disclosure:plan" in sources


def test_no_resolution_before_min_turns_or_while_a_moment_is_open() -> None:
    c = card("jordan_student_exams")
    p = Person(c)
    every = frozenset(Act) - {Act.ADVICE, Act.JUDGEMENT, Act.MINIMISING, Act.QUESTION_CLOSED, Act.PROMISED_SECRECY}
    early = [p.respond(every) for _ in range(c.resolution.min_turns - 1)]
    assert not any(t.ended for t in early)
    assert not p.respond(every, pending=True).ended
    assert p.respond(every).ended
