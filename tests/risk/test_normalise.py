"""Text normalisation: each step, the offset map back to the original, and speed."""

from __future__ import annotations

import importlib.util
import random
import time

import pytest

from mindrail.risk.normalise import EMOJI_WORDS, Lexicon, Normalised, Normaliser, normalise


def norm(text: str) -> str:
    return normalise(text).text


def find_original(text: str, needle: str) -> str:
    """Find ``needle`` in the normalised text and return the original substring it came from."""
    n = normalise(text)
    i = n.text.index(needle)
    return n.original_text(i, i + len(needle))


def check_offsets(n: Normalised) -> None:
    assert len(n.offsets) == len(n.text)
    prev = 0
    for i, o in enumerate(n.offsets):
        assert 0 <= o < len(n.original), (i, o)
        assert o >= prev, "offsets must be non-decreasing"
        prev = o
        assert o < n.source_end(o) <= len(n.original)
    if n.text:
        s, e = n.span_to_original(0, len(n.text))
        assert 0 <= s < e <= len(n.original)


# ------------------------------------------------------------------------------------------------
# Offset map
# ------------------------------------------------------------------------------------------------

_PIECES: list[str] = [
    *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@$!|.-' ",
    *["  ", "\n", "\t", "\u200b", "\u200d", "\ufeff", "\u00ad", "\u202e", "\ufe0f", "\u0301", "\u0336"],
    *["\u0489", "\U0001f3fd", "\x00", "\x7f", "\u2019", "\u201c", "´", "ﬁ", "½", "⒦", "ᴋ", "ｋ", "𝐤"],
    *["а", "е", "о", "р", "с", "і", "ѕ", "д", "Η", "η", "Σ", "α", "λ", "क", "ि", "्", "ं", "我"],
    *["😭", "🔪", "🗡", "❤", "👍", "🇺", "İ", "ß", "\u2028", "\u00a0", "ı"],
    *["k i l l", "a.b.c.d", "cant", "im", "soooo", "k1ll", "3am", "diiiie"],
]


def test_offsets_on_seeded_random_texts() -> None:
    """Runs without hypothesis too: random concatenations of tricky pieces."""
    rng = random.Random(1234)
    for _ in range(500):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40)))
        n = normalise(text)
        check_offsets(n)
        start = rng.randint(0, len(n.text))
        end = rng.randint(start, len(n.text))
        s, e = n.span_to_original(start, end)
        assert 0 <= s <= e <= len(text)


if importlib.util.find_spec("hypothesis") is not None:  # property tests (pip install hypothesis)
    from hypothesis import given, settings
    from hypothesis import strategies as st

    _ALPHABET = st.sampled_from(_PIECES)

    @given(st.lists(_ALPHABET, max_size=60).map("".join))
    @settings(max_examples=400, deadline=None, database=None)
    def test_offsets_are_in_range_and_monotonic(text: str) -> None:
        check_offsets(normalise(text))

    @given(st.text(max_size=80))
    @settings(max_examples=300, deadline=None, database=None)
    def test_offsets_hold_for_arbitrary_unicode(text: str) -> None:
        check_offsets(normalise(text))

    @given(st.lists(_ALPHABET, max_size=40).map("".join), st.data())
    @settings(max_examples=200, deadline=None, database=None)
    def test_every_span_maps_inside_the_original(text: str, data: st.DataObject) -> None:
        n = normalise(text)
        start = data.draw(st.integers(0, len(n.text)))
        end = data.draw(st.integers(start, len(n.text)))
        s, e = n.span_to_original(start, end)
        assert 0 <= s <= e <= len(text)
        if start < end:
            assert s == n.offsets[start]
            assert e > n.offsets[end - 1]


def test_span_round_trip_with_leet_spaces_and_zero_width() -> None:
    text = "I want to K1LL   mys\u200belf"
    n = normalise(text)
    assert n.text == "i want to kill myself"
    i = n.text.index("kill myself")
    assert n.span_to_original(i, i + len("kill myself")) == (10, len(text))
    assert n.original_text(i, i + len("kill myself")) == "K1LL   mys\u200belf"


def test_span_of_emoji_covers_variation_selector() -> None:
    text = "a \U0001f5e1\ufe0f b"
    n = normalise(text)
    assert n.text == "a knife b"
    assert find_original(text, "knife") == "\U0001f5e1\ufe0f"


def test_span_of_collapsed_run_covers_the_run() -> None:
    assert find_original("so helllllo there", "hello") == "helllllo"
    assert find_original("so helllllo there", "hel") == "hel"


def test_span_of_spaced_letters_covers_separators() -> None:
    assert find_original("say h e l l o now", "hello") == "h e l l o"


def test_span_of_inserted_apostrophe() -> None:
    n = normalise("I dont know")
    assert n.text == "i don't know"
    i = n.text.index("'")
    assert n.original_text(i, i + 1) == "n"
    assert find_original("I dont know", "don't") == "dont"


def test_span_of_zalgo_letter_covers_its_marks() -> None:
    text = "h\u0336\u0301i\u0336 there"
    n = normalise(text)
    assert n.text == "hi there"
    assert n.original_text(0, 2) == "h\u0336\u0301i\u0336"


def test_span_of_nfkc_expansion() -> None:
    n = normalise("\ufb01ne")  # ﬁ ligature
    assert n.text == "fine"
    assert n.offsets[:2] == (0, 0)
    assert n.original_text(0, 1) == "\ufb01"


def test_span_to_original_edges() -> None:
    n = normalise("  Hello  ")
    assert n.text == "hello"
    assert n.span_to_original(0, 5) == (2, 7)
    assert n.span_to_original(2, 2) == (4, 4)
    assert n.span_to_original(5, 5) == (9, 9)
    with pytest.raises(ValueError):
        n.span_to_original(3, 2)
    with pytest.raises(ValueError):
        n.span_to_original(0, 6)


def test_empty_and_blank() -> None:
    assert normalise("").text == ""
    assert normalise("").offsets == ()
    assert normalise(" \n\t\u200b ").text == ""


# ------------------------------------------------------------------------------------------------
# Step 1: NFKC, step 4: lowercase
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ｈｅｌｌｏ",  # fullwidth
        "𝐡𝐞𝐥𝐥𝐨",  # mathematical bold
        "𝒽𝑒𝓁𝓁𝑜",  # mathematical script
        "ⓗⓔⓛⓛⓞ",  # circled
        "⒣⒠⒧⒧⒪",  # parenthesised
        "ʜᴇʟʟᴏ",  # small capitals
        "HELLO",
        "HeLLo",
        "héllò",  # precomposed diacritics
        "he\u0301llo\u0300",  # decomposed diacritics
    ],
)
def test_compatibility_forms_become_ascii(text: str) -> None:
    assert norm(text) == "hello"


def test_lowercase_all_caps() -> None:
    assert norm("I AM SO TIRED") == "i am so tired"


# ------------------------------------------------------------------------------------------------
# Step 2: invisible characters and combining marks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ch",
    [
        *["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f"],
        *["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
        *["\ufe00", "\ufe0f", "\x00", "\x1b", "\u2061", "\U000e0041"],
    ],
)
def test_invisible_characters_are_removed(ch: str) -> None:
    assert norm(f"he{ch}llo wor{ch}{ch}ld") == "hello world"


def test_zalgo_is_stripped_from_latin() -> None:
    assert norm("h\u0336\u0322e\u0335\u0300l\u0338l\u0334o\u0489") == "hello"


def test_marks_after_non_latin_letters_are_kept() -> None:
    hindi = "मैं बहुत थका हुआ हूँ, क्या करूँ"
    assert norm(hindi) == hindi
    greek_decomposed = "κα\u0301νω"
    assert norm(greek_decomposed) == greek_decomposed


def test_generic_mark_stack_is_cut_on_other_scripts() -> None:
    assert norm("д\u0301\u0302\u0303\u0304") == "д\u0301\u0302"


# ------------------------------------------------------------------------------------------------
# Step 3: homoglyphs and quotes
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hеllо wоrld", "hello world"),  # Cyrillic е, о inside Latin words
        ("Неllo", "hello"),  # Cyrillic Н (uppercase) -> h
        ("ѕlеер", "sleep"),
        ("Ηello", "hello"),  # Greek Eta (uppercase) -> h
        ("hαppy", "happy"),
        ("cοοl", "cool"),
        ("that is ок with me", "that is ok with me"),  # pure look-alike word in Latin text
    ],
)
def test_homoglyphs_in_latin_context(text: str, expected: str) -> None:
    assert norm(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Привет, как дела? Я очень устал сегодня.",
        "Сор и рос",  # real Russian words made only of look-alike letters
        "Καλημέρα σας, τι κάνεις σήμερα;",
        "Το σπίτι είναι μεγάλο",
        "मैं आज बहुत थका हुआ हूँ",
        "我今天很累。不想说话。",
    ],
)
def test_non_latin_text_is_unchanged_apart_from_lowercasing(text: str) -> None:
    assert norm(text) == text.lower()


def test_fullwidth_punctuation_is_nfkc_folded() -> None:
    assert norm("我今天很累，不想说话！") == "我今天很累,不想说话!"


def test_real_russian_word_in_english_sentence_is_kept() -> None:
    assert norm("I said привет to him") == "i said привет to him"


def test_curly_quotes_become_ascii() -> None:
    assert norm("I\u2019m fine, don\u2018t worry, it\u02bcs ok `x\u00b4") == "i'm fine, don't worry, it's ok 'x'"
    assert norm("\u201chello\u201d") == '"hello"'


# ------------------------------------------------------------------------------------------------
# Step 5: spaced-out letters
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("h e l l o", "hello"),
        ("h.e.l.l.o", "hello"),
        ("h-e-l-l-o", "hello"),
        ("say h e l l o  t h e r e", "say hello there"),
        ("h e l p m e", "help me"),  # split into lexicon words at original separators
        ("c u t", "cut"),  # three letters: joined because it is a word
        ("h 3 l l 0", "hello"),  # spaced leetspeak
    ],
)
def test_spaced_letters_are_joined(text: str, expected: str) -> None:
    assert norm(text) == expected


@pytest.mark.parametrize("text", ["y r u sad", "i.e. a b", "e.g. this", "plan a or b", "1 2 3 4", "a.b.c.com"])
def test_spaced_letters_left_alone(text: str) -> None:
    assert norm(text) == text


# ------------------------------------------------------------------------------------------------
# Step 6: leetspeak
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("h3ll0 w0rld", "hello world"),
        ("he11o", "hello"),  # 1 -> l by lexicon
        ("th1s", "this"),  # 1 -> i by lexicon
        ("c00l", "cool"),
        ("m3", "me"),
        ("d13", "die"),
        ("$ad", "sad"),
        ("h@ppy", "happy"),
        ("w!th", "with"),
        ("fee|", "feel"),
        ("5l33p", "sleep"),
        ("7ired", "tired"),
        ("b4d", "bad"),
        ("K1LL", "kill"),
        ("su1c1de", "suicide"),
    ],
)
def test_leetspeak_inside_words(text: str, expected: str) -> None:
    assert norm(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "take 25 m",
        "100 pills",
        "1st 2nd 3rd 4th",
        "3am",
        "4pm",
        "24/7",
        "500mg",
        "10mg",
        "25m",
        "mp3",
        "covid19",
        "100s",
        "$5",
        "$100k",
        "5k",
        "b12",
        "gr8",
        "ps5",
        "help!",
        "wow!!",
        "a|b",
        "me@example.com",
        "call 555-0134",
    ],
)
def test_numbers_and_punctuation_are_untouched(text: str) -> None:
    assert norm(text) == text


# ------------------------------------------------------------------------------------------------
# Step 7: stretched letters
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("diiiiie", "die"),
        ("killlll", "kill"),
        ("sooooo", "so"),
        ("nooooo", "no"),
        ("offfff", "off"),
        ("toooo", "too"),
        ("gooood", "good"),
        ("hellllooooo", "hello"),
        ("pleaseeeee", "please"),
        ("SLEEEEEP", "sleep"),
        ("whyyyy", "why"),
    ],
)
def test_stretched_letters_collapse_by_lexicon(text: str, expected: str) -> None:
    assert norm(text) == expected


def test_stretched_slang() -> None:
    assert norm("plzzzz") in {"plz", "plzz"}


def test_lexicon_word_with_triple_letters_is_kept() -> None:
    assert norm("www") == "www"


def test_double_letters_are_not_touched() -> None:
    assert norm("good book, all too well") == "good book, all too well"


# ------------------------------------------------------------------------------------------------
# Step 8: contractions
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I cant", "i can't"),
        ("dont go", "don't go"),
        ("it wont", "it won't"),
        ("im here", "i'm here"),
        ("ive been", "i've been"),
        ("isnt doesnt didnt couldnt", "isn't doesn't didn't couldn't"),
        ("shouldnt wouldnt havent hasnt", "shouldn't wouldn't haven't hasn't"),
        ("wasnt werent arent", "wasn't weren't aren't"),
        ("youre theyre thats whats theres youve", "you're they're that's what's there's you've"),
        ("d0nt", "don't"),
        ("cantttt", "can't"),
    ],
)
def test_missing_apostrophes_are_restored(text: str, expected: str) -> None:
    assert norm(text) == expected


@pytest.mark.parametrize("text", ["id like that", "ill be fine", "its tail", "lets go", "we were well"])
def test_ambiguous_contractions_left_alone(text: str) -> None:
    assert norm(text) == text


def test_existing_apostrophes_are_kept() -> None:
    assert norm("I can't, I won't") == "i can't, i won't"


# ------------------------------------------------------------------------------------------------
# Step 9: emoji
# ------------------------------------------------------------------------------------------------


def test_emoji_become_words() -> None:
    assert norm("a\U0001f52ab") == "a knife b"
    assert norm("\U0001f48a\U0001f525") == "pills fire"
    assert norm("ok \u2764\ufe0f") == "ok heart"
    assert norm("\u2620\ufe0f") == "skull"
    assert norm("\U0001f940") == "wilted flower"
    assert norm("\U0001f686 \U0001f682 \U0001f684") == "train train train"


def test_repeated_emoji_give_one_word() -> None:
    text = "so \U0001f62d\U0001f62d\U0001f62d today"
    assert norm(text) == "so crying today"
    assert find_original(text, "crying") == "\U0001f62d\U0001f62d\U0001f62d"


def test_other_emoji_are_dropped() -> None:
    assert norm("great\U0001f44d\U0001f3fd job \U0001f1fa\U0001f1f8") == "great job"


def test_emoji_table_is_single_code_points() -> None:
    assert all(len(k) == 1 for k in EMOJI_WORDS)
    assert all(v and v == v.strip().lower() for v in EMOJI_WORDS.values())


# ------------------------------------------------------------------------------------------------
# Step 10: whitespace and punctuation
# ------------------------------------------------------------------------------------------------


def test_whitespace_collapses_and_punctuation_stays() -> None:
    assert norm("  Hello,\n\n  world!!\t(really?) \u00a0 ok\u2028yes  ") == "hello, world!! (really?) ok yes"


# ------------------------------------------------------------------------------------------------
# Lexicon handling
# ------------------------------------------------------------------------------------------------


def test_without_lexicon_falls_back_to_fixed_rules() -> None:
    bare = Normaliser(Lexicon())
    assert bare("diiiie").text == "diie"  # keep two letters
    assert bare("k1ll").text == "kill"  # interior leet still converts (1 -> i)
    assert bare("m3").text == "m3"  # edge leet needs a lexicon
    assert bare("y r u").text == "yru"  # every spaced run of 3+ joins
    assert bare("dont").text == "don't"


def test_custom_lexicon() -> None:
    custom = Normaliser(["bla", "he", "me"])
    assert custom("blaaaa").text == "bla"
    assert normalise("blaaaa", lexicon=["bla"]).text == "bla"


def test_normaliser_is_reusable_and_consistent() -> None:
    n = Normaliser()
    for text in ["h3ll0 w0rld", "sooo cool", "I cant"]:
        assert n(text) == normalise(text)


def test_idempotent_on_examples() -> None:
    for text in [
        "I want to K1LL   mys\u200belf",
        "h e l p m e",
        "sooooo tired \U0001f62d",
        "I cant, im done",
    ]:
        once = norm(text)
        assert norm(once) == once


# ------------------------------------------------------------------------------------------------
# Speed
# ------------------------------------------------------------------------------------------------


def test_short_message_is_fast() -> None:
    msg = "I have been feeling really low lately and I dont know who to talk to about it anymore, honestly."
    normalise(msg)
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        normalise(msg)
    per_call = (time.perf_counter() - t0) / n
    assert per_call < 1e-3  # measured ~20 us; generous bound for slow CI machines


def test_megabyte_text_is_handled() -> None:
    text = ("Some lines of t3xt with \U0001f62d, ѕоme cafe\u0301 and sooooo many words.\n" * 16000)[:1_000_000]
    t0 = time.perf_counter()
    n = normalise(text)
    assert time.perf_counter() - t0 < 5.0  # measured ~0.4 s
    assert n.text.startswith("some lines of text with crying , some cafe and so many words. some lines")
    assert len(n.offsets) == len(n.text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 want 70 die 4nd 1 4m going", "i want to die and i am going"),
        ("th3 p1ll5 4r3 1n my dr4w3r 4nd 1 h4v3 50 0f th3m", "the pills are in my drawer and i have 50 of them"),
        ("meet at 4pm on the 2nd, 1 more day", "meet at 4pm on the 2nd, 1 more day"),
        ("i have 1 cat and 70 dollars, 1 more", "i have 1 cat and 70 dollars, 1 more"),
    ],
)
def test_a_leetspeak_text_reads_its_number_like_words_too(text: str, expected: str) -> None:
    """Numbers stay numbers unless the text is written in leetspeak, and a quantity ("50") always does."""
    assert normalise(text).text == expected
