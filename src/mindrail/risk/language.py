"""Is a message in a language the risk engine supports (English)?

The patterns and the encoder heads were built for English. A message in another language still gets
screened, but the detector marks it ``language_unsupported`` / ``low_confidence`` so that a person
or a generic safe response can take over. This check is deliberately *permissive*: wrongly calling
English unsupported only costs a flag, but it must never happen to obfuscated English, so

* short texts (fewer than 4 words) and texts that are mostly emoji, numbers or leetspeak count as
  supported (``ok``, ``k1ll m3``);
* Cyrillic/Greek letters that look Latin (``кіll``) are neutral in a text that has Latin letters
  and no other non-Latin letter, so homoglyph-obfuscated English stays supported; real Russian or
  Greek always has letters outside the look-alike set, and then the look-alikes count as theirs;
* Latin-script text is unsupported only when it has several function words of Spanish, French,
  German, Portuguese, Italian or Dutch and clearly more of those than English ones. Words shared
  with English (``no``, ``me``, ``in``, ``is``, ``was``, ``die``, ``will``, ``so`` ...) count for
  neither side. Other Latin-script languages (Polish, Turkish, Indonesian ...) are not detected.

A text counts as non-Latin when it has at least three letters of other scripts and they outnumber
the Latin letters; this applies to short texts too (a two-word Russian message is not English), but
one stray character (a name, a symbol) never flags an English message.

Speed: a few microseconds for a short message; long texts are sampled (the first 2,000 and the last
1,000 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mindrail.risk.normalise import LOOKALIKES

__all__ = ["ScriptProfile", "foreign_leaning", "is_supported", "script_profile"]

_HEAD: Final = 2_000
_TAIL: Final = 1_000
_MIN_WORDS: Final = 4
_MIN_OTHER: Final = 3
_MIN_FOREIGN: Final = 3


def _words(spec: str) -> frozenset[str]:
    return frozenset(spec.split())


_LETTER_RE: Final = re.compile(r"[^\W\d_]")
_LATIN_RE: Final = re.compile(
    r"[A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a]"
)
_LOOKALIKE_RE: Final = re.compile(f"[{''.join(sorted(LOOKALIKES))}]")
_WORD_RE: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_APOSTROPHES: Final = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_ASCII_LETTERS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DROP_ASCII_LETTERS: Final = str.maketrans("", "", _ASCII_LETTERS)

# English function words and very common chat words (lowercase, with and without apostrophes).
_ENGLISH: Final = _words(
    """
    the and to of i you it that this my for not be have has had with but are just don't dont i'm im
    what all can if we they she at feel want like am or about know get got been would how why when
    myself your you're youre there their them her him his our because really anymore anything
    nothing everything can't cant it's its i've ive i'll i'd very too from out up an any some one
    never always think going gonna wanna could should did does doesn't didn't isn't wasn't won't
    want wanted need help anyone someone people life tired sorry thanks please yes yeah okay
    who which than then more much even still only also here where these those were being over
    again after before something nobody everyone day today tonight now
    """
)

# Function words of Spanish, French, German, Portuguese, Italian and Dutch that are not English
# words (shared forms such as no/me/in/is/was/die/will/so/an/on/do/he/a/con/come/per are left out).
_FOREIGN: Final = _words(
    """
    el los las del que por para una uno unos unas pero muy yo mi tengo estoy soy es esta está este
    eso esto más como cuando porque también tambien nada todo todos todas quiero puedo nadie siempre nunca
    ya hay bien tiene hace hacer ser estar lo le se su sus al mí qué cómo estás estas eres
    la le les des du de et est un une je tu il ils elle elles nous vous suis sont très tres moi toi
    rien tout veux pas qui avec dans pour sur mais ce cette cet ces mon ma mes ton ta aussi plus
    être avoir fait peux
    der das und ist nicht ich du er sie es wir ihr mit auf für den dem ein eine einen zu von auch
    aber bin mich mir sehr wie kann noch nur mehr nichts alles mein meine dass wenn weil oder schon
    jetzt immer hier habe hat keine kein niemand warum
    o os um uma não nao eu você voce com muito isso isto estou quero sou ele ela eles meu minha
    tudo mais mas pra só já aqui agora tem ter ninguém dos das da na nos em pelo pela então
    il lo gli della di che non sono una mi ti io è anche questo questa molto voglio più piu perché
    perche niente tutto nessuno sempre mai sei ho hai del alla nel cosa vita essere fare posso
    het een en van ik niet je zijn maar met voor te ook wat heb ben mijn naar dit om wil kan meer
    niets nooit altijd waarom omdat hoe wel geen iemand
    """
)
# French/Italian elisions (c'est, j'ai, l'amore, dell'anno): foreign unless the tail is English.
_ELISION_HEADS: Final = _words("c j n l d qu m t s dell nell all sull quest un jusqu lorsqu puisqu")
_ENGLISH_TAILS: Final = _words("t s m re ve ll d")


@dataclass(frozen=True, slots=True)
class ScriptProfile:
    """Letter counts by script."""

    latin: int
    lookalike: int  # Cyrillic/Greek letters that look Latin: neutral
    other: int  # letters of any other script

    @property
    def letters(self) -> int:
        return self.latin + self.lookalike + self.other

    @property
    def effective_other(self) -> int:
        """Other-script letters, plus the look-alikes when they cannot be disguised Latin ones.

        Look-alikes are neutral only in a text with Latin letters and no other non-Latin letter
        (``кіll``); in ``мне плохо`` they are just Cyrillic.
        """
        if self.other or not self.latin:
            return self.other + self.lookalike
        return 0

    @property
    def mostly_other(self) -> bool:
        """At least a few letters of other scripts, and more of them than Latin letters."""
        other = self.effective_other
        return other >= _MIN_OTHER and other > self.latin


def _sample(text: str) -> str:
    if len(text) <= _HEAD + _TAIL:
        return text
    return text[:_HEAD] + " " + text[-_TAIL:]


def script_profile(text: str) -> ScriptProfile:
    """Count Latin, look-alike and other-script letters (of a sample of long texts)."""
    s = _sample(text)
    if s.isascii():
        return ScriptProfile(len(s) - len(s.translate(_DROP_ASCII_LETTERS)), 0, 0)
    letters = len(_LETTER_RE.findall(s))
    latin = len(_LATIN_RE.findall(s))
    lookalike = len(_LOOKALIKE_RE.findall(s))
    return ScriptProfile(latin, lookalike, max(0, letters - latin - lookalike))


def _foreign(word: str) -> bool:
    if word in _FOREIGN:
        return True
    head, sep, tail = word.partition("'")
    return bool(sep) and head in _ELISION_HEADS and tail not in _ENGLISH_TAILS


def is_supported(text: str) -> bool:
    """True for English (including obfuscated English), short and mostly non-verbal texts."""
    s = _sample(text)
    if not s.isascii() and script_profile(s).mostly_other:
        return False
    low = s.lower()
    if not s.isascii() or "`" in low:
        low = low.translate(_APOSTROPHES)
    words = _WORD_RE.findall(low)
    if len(words) < _MIN_WORDS:
        return True
    english = 0
    foreign = 0
    for w in words:
        if w in _ENGLISH:
            english += 1
        elif _foreign(w):
            foreign += 1
    return not (foreign >= _MIN_FOREIGN and foreign > 2 * english)


def _counts(text: str) -> tuple[int, int]:
    low = text.lower()
    if not low.isascii() or "`" in low:
        low = low.translate(_APOSTROPHES)
    english = foreign = 0
    for w in _WORD_RE.findall(low):
        if w in _ENGLISH:
            english += 1
        elif _foreign(w):
            foreign += 1
    return english, foreign


def foreign_leaning(text: str) -> bool:
    """More function words of another language than of English (at least one): the normaliser's English
    spelling repair must leave such a text alone ("todas" is not a misspelt "today"). Looser than
    :func:`is_supported`, which must also be sure before it calls a text unsupported."""
    english, foreign = _counts(_sample(text))
    return foreign >= 1 and foreign > english
