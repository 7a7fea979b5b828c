"""The consent text the person accepts before a conversation starts (data, versioned)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from mindrail.datafiles import StrictModel, load_model


class ConsentText(StrictModel):
    version: str = Field(min_length=1, max_length=64)
    title: str
    disclosure: str = Field(min_length=20)
    paragraphs: tuple[str, ...] = Field(min_length=1)
    accepted_versions: tuple[str, ...] = ()
    """Earlier versions of this text still accepted for new conversations (e.g. while apps roll out the new
    text). An API request naming any other version is refused."""

    @property
    def known_versions(self) -> frozenset[str]:
        return frozenset((self.version, *self.accepted_versions))


@lru_cache(maxsize=1)
def default_consent() -> ConsentText:
    return load_model(ConsentText, "data/consent.yaml", package="mindrail.policy")
