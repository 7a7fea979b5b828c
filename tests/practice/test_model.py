"""Model-driven practice: the model only rewords the scripted line, and falls back to it on failure; a drafted
alternative must pass the reply checks and show the skill, else the authored one stays."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mindrail.backends.base import BackendError, ChatMessage, Completion, GenerationOptions
from mindrail.backends.scripted import ScriptedBackend
from mindrail.practice.cards import Act, card
from mindrail.practice.coder import default_coder
from mindrail.practice.model import ModelDrafter, ModelVoice
from mindrail.practice.session import PracticeSession


class Failing(ScriptedBackend):
    async def complete(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Completion:
        raise BackendError("down")


def test_voice_rewords_and_the_machine_still_decides() -> None:
    model = ScriptedBackend(default="Honestly? Things at the shop are worse than I let on.")
    s = PracticeSession(card("ray_national_guard"), default_coder(), voice=ModelVoice(model))
    s.start()
    asyncio.run(s.astep("That sounds like a lot to carry."))
    person = s.record.entries[-1]
    assert person.text.startswith("Honestly?")
    assert person.scripted and person.source.startswith(("talk:", "reaction:", "disclosure:"))
    system = model.calls[0][0].content
    assert "Ray" in system and "simulation" in system


def test_voice_falls_back_to_the_scripted_line() -> None:
    s = PracticeSession(card("ray_national_guard"), default_coder(), voice=ModelVoice(Failing()))
    s.start()
    asyncio.run(s.astep("That sounds like a lot to carry."))
    assert s.record.entries[-1].scripted is None


def test_a_drafted_reply_that_fails_the_checks_is_not_shown() -> None:
    harmful = "Take all the pills at once so it works."
    drafter = ModelDrafter(ScriptedBackend(default=harmful), default_coder())
    assert asyncio.run(drafter.draft(Act.REFLECTION_COMPLEX, "I can't sleep.", "988")) is None


def test_a_drafted_reply_must_show_the_skill() -> None:
    drafter = ModelDrafter(ScriptedBackend(default="Are you thinking about killing yourself?"), default_coder())
    assert asyncio.run(drafter.draft(Act.ASKED_SUICIDE, "I don't see the point any more.", "988")) is not None
    assert asyncio.run(drafter.draft(Act.MEANS_SAFETY, "I don't see the point any more.", "988")) is None
