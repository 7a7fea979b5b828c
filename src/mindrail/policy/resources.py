"""Crisis resources per locale, as data: every entry carries its source URL and the date it was last verified.

Nothing here is generated: an entry exists only if a source states it (docs/crisis-resources.md). Unknown
locales get the ``INTL`` fallback, which says how to reach local emergency services.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, HttpUrl, model_validator

from mindrail.datafiles import StrictModel, load_model

FALLBACK = "INTL"
_LOCALE_ALIASES = {"GB": "UK", "EN": "INTL"}


class Emergency(StrictModel):
    number: str | None = None
    instructions: str | None = None
    directory_url: HttpUrl | None = None
    """A directory of services elsewhere (for the international fallback)."""
    source_url: HttpUrl
    verified: dt.date
    notes: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Emergency:
        if not self.number and not self.instructions:
            raise ValueError("an emergency entry needs a number or instructions")
        return self

    def describe(self) -> str:
        """Short, to sit inside a sentence: "call 911", or "your local emergency number"."""
        return f"call {self.number}" if self.number else "your local emergency number"

    def details(self) -> str:
        """Long, for the resources list."""
        text = f"call {self.number}" if self.number else (self.instructions or "")
        return f"{text} (directory: {self.directory_url})" if self.directory_url else text


class Service(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str = Field(min_length=2)
    phone: str | None = None
    text: str | None = None
    text_instructions: str | None = None
    chat_url: HttpUrl | None = None
    hours: str = Field(min_length=2)
    languages: tuple[str, ...] = ()
    audience: str | None = None
    source_url: HttpUrl
    verified: dt.date
    notes: str | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Service:
        if not (self.phone or self.text or self.text_instructions or self.chat_url):
            raise ValueError("a service needs at least one of phone, text, text_instructions, chat_url")
        for field in ("phone", "text"):
            value = getattr(self, field)
            if value is not None and not re.fullmatch(r"[0-9][0-9 \-]{1,18}[0-9]|[0-9]{2,6}", value):
                raise ValueError(f"{field} {value!r} is not a dialable number (digits, spaces and dashes)")
        return self

    def contact_line(self) -> str:
        parts = []
        if self.phone:
            parts.append(f"call {self.phone}")
        if self.text and not self.text_instructions:
            parts.append(f"text {self.text}")
        if self.text_instructions:
            parts.append(self.text_instructions[:1].lower() + self.text_instructions[1:])
        if self.chat_url:
            parts.append(f"chat at {self.chat_url}")
        return f"{self.name}: {', '.join(parts)} ({self.hours})"


class Locale(StrictModel):
    country: str
    emergency: Emergency
    services: tuple[Service, ...] = ()


class ResourceFile(StrictModel):
    version: int = Field(ge=1)
    locales: dict[str, Locale]

    @model_validator(mode="after")
    def _complete(self) -> ResourceFile:
        if FALLBACK not in self.locales:
            raise ValueError(f"the {FALLBACK} fallback locale is required")
        ids = [s.id for loc in self.locales.values() for s in loc.services]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate service id(s): {', '.join(dupes)}")
        return self


def normalise_locale(locale: str | None) -> str:
    """``en-GB``, ``en_US``, ``gb``, ``UK`` → the file's country key; unknown or empty → ``INTL`` is decided by
    ``ResourceBook.for_locale``."""
    if not locale:
        return ""
    code = re.split(r"[-_]", locale.strip())[-1].upper()
    return _LOCALE_ALIASES.get(code, code)


class ResourceBook:
    def __init__(self, data: ResourceFile) -> None:
        self.data = data

    @classmethod
    def load(cls, path: Path | None = None) -> ResourceBook:
        if path is None:
            return cls(load_model(ResourceFile, "data/resources.yaml", package="mindrail.policy"))
        return cls(load_model(ResourceFile, path))

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self.data.locales)

    def for_locale(self, locale: str | None) -> tuple[str, Locale]:
        """The locale's entry and its key; unknown locales get the international fallback."""
        key = normalise_locale(locale)
        if key in self.data.locales:
            return key, self.data.locales[key]
        return FALLBACK, self.data.locales[FALLBACK]

    def render(self, locale: str | None) -> str:
        _, loc = self.for_locale(locale)
        lines = [f"- {s.contact_line()}" for s in loc.services]
        lines.append(f"- Emergency services: {loc.emergency.details()}")
        return "\n".join(lines)


@lru_cache(maxsize=1)
def default_resources() -> ResourceBook:
    return ResourceBook.load()
