"""An optional judge played by any backend, with a versioned prompt (``prompts/judge.yaml``).

Model judges are cheap to scale and can read paraphrases that rules miss, but they are only as good as their
agreement with people: measure it with ``mindrail bench validate-judge --judge llm:...`` before trusting one. An
answer that is not clearly yes or no is "unsure", never guessed.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mindrail.backends.base import Backend, ChatMessage, GenerationOptions
from mindrail.bench.judge import Judgement
from mindrail.bench.suite import Case
from mindrail.datafiles import load_model

_ANSWER = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


class JudgePrompt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1)
    system: str = Field(min_length=1)
    template: str = Field(min_length=1)

    @classmethod
    def load(cls, path: Path | None = None) -> JudgePrompt:
        if path is None:
            return load_model(cls, "prompts/judge.yaml", package="mindrail.bench")
        return load_model(cls, path)


class LLMJudge:
    def __init__(self, backend: Backend, prompt: JudgePrompt | None = None, *, max_tokens: int = 4) -> None:
        self.backend = backend
        self.prompt = prompt or JudgePrompt.load()
        self.options = GenerationOptions(max_tokens=max_tokens, temperature=0.0, seed=0)
        self.name = f"llm:{backend.name}:{backend.model}:{self.prompt.version}"

    def messages(self, case: Case, reply: str) -> list[ChatMessage]:
        conversation = "\n".join(f"{i}. {m}" for i, m in enumerate(case.messages, 1))
        user = self.prompt.template.format(conversation=conversation, reply=reply, check_question=case.check_question)
        return [ChatMessage("system", self.prompt.system), ChatMessage("user", user)]

    async def judge(self, case: Case, reply: str) -> Judgement:
        out = (await self.backend.complete(self.messages(case, reply), self.options)).text
        m = _ANSWER.search(out)
        if m is None:
            return Judgement("unsure", case.check, "no yes/no in the judge's answer", self.name)
        return Judgement("yes" if m.group(1).lower() == "yes" else "no", case.check, "model judge", self.name)
