"""Model-driven practice: any chat backend (``--backend``) rewords the simulated person's scripted lines in their
voice, and may draft the alternative reply. The state machine still decides every disclosure, so a weak model
cannot derail the case; a model failure, an empty or runaway answer, or a drafted reply that fails the gateway's
reply checks or does not show the skill asked for falls back to the authored line."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from mindrail.backends.base import Backend, BackendError, ChatMessage, GenerationOptions
from mindrail.datafiles import StrictModel, load_model
from mindrail.practice.behaviours import BehaviourReader, default_reader
from mindrail.practice.cards import Act, PersonaCard
from mindrail.practice.coder import SkillCoder
from mindrail.risk.reply import ReplyChecker


class Prompts(StrictModel):
    version: int
    person_system: str
    person_turn: str
    draft_system: str
    draft_turn: str
    skills: dict[Act, str]


@cache
def prompts() -> Prompts:
    return load_model(Prompts, "data/prompts.yaml", package="mindrail.practice")


def _clean(text: str) -> str:
    return " ".join(text.strip().strip('"').split())


@dataclass(slots=True)
class ModelVoice:
    backend: Backend
    options: GenerationOptions = field(default_factory=lambda: GenerationOptions(max_tokens=120, temperature=0.7))

    async def say(self, card: PersonaCard, line: str, trainee: str) -> str:
        p = prompts()
        system = p.person_system.format(
            name=card.name,
            background=card.background,
            presenting_problem=card.presenting_problem,
            style=", ".join(card.style),
        )
        messages = [
            ChatMessage("system", system),
            ChatMessage("user", p.person_turn.format(trainee=trainee, line=line)),
        ]
        try:
            out = _clean((await self.backend.complete(messages, self.options)).text)
        except BackendError:
            return line
        if not out or len(out) > 3 * len(line) + 200:
            return line
        return out


@dataclass(slots=True)
class ModelDrafter:
    backend: Backend
    coder: SkillCoder
    reader: BehaviourReader | None = None
    checker: ReplyChecker | None = None
    options: GenerationOptions = field(default_factory=lambda: GenerationOptions(max_tokens=100, temperature=0.3))

    async def draft(self, act: Act, said: str, crisis_line: str) -> str | None:
        """A reply showing ``act``, or None when the model fails, the reply fails a reply check (run as if every
        risk were present: fail closed) or it does not read as the skill asked for."""
        p = prompts()
        if act not in p.skills:
            return None
        messages = [
            ChatMessage("system", p.draft_system),
            ChatMessage("user", p.draft_turn.format(said=said, skill=p.skills[act])),
        ]
        try:
            text = _clean((await self.backend.complete(messages, self.options)).text)
        except BackendError:
            return None
        text = text.replace("CRISIS_LINE", crisis_line)
        if not text or len(text) > 600:
            return None
        if not (self.checker or ReplyChecker()).check(text).passed:
            return None
        vector = self.coder.embed([text])
        shown = (self.reader or default_reader()).read(text, vector[0], context=said)
        shown |= {self.coder.code_vectors(vector)[0].act}
        return text if act in shown else None
