"""Language support check: English (also obfuscated) is supported, other languages are not."""

from __future__ import annotations

import time

import pytest

from mindrail.risk.language import is_supported, script_profile


@pytest.mark.parametrize(
    "text",
    [
        "I have been feeling really low lately and I do not know who to talk to",
        "honestly just tired of everything, nothing seems to help anymore",
        "ok",
        "k1ll m3",
        "hi",
        "",
        "   ",
        "i w4nt t0 g0 h0m3 n0w b3cause n0b0dy c4res ab0ut m3",  # leetspeak
        "I wаnt to gо hоmе now, nоbоdy cares about me",  # Cyrillic look-alikes
        "ѕеt",
        "\U0001f62d\U0001f62d\U0001f62d \U0001f494 \U0001f48a 100 200 300 400",  # mostly emoji and numbers
        "12 34 56 78 90 11 12",
        "My abuela always says no hay mal que por bien no venga and I am trying to believe it",
        "I said привет to him at the station today",
        "went to the café and had a crème brûlée with my friend",
        "HELP ME PLEASE I CANT DO THIS ANYMORE",
        "I\u2019m so done with all of this, can\u2019t sleep, can\u2019t eat",
    ],
)
def test_english_and_obfuscated_english_are_supported(text: str) -> None:
    assert is_supported(text)


@pytest.mark.parametrize(
    "text",
    [
        "no quiero hacer nada hoy, estoy muy cansada de todo",  # Spanish
        "je ne veux plus sortir, je suis fatigué de tout",  # French
        "c'est la vie, je suis fatigué",
        "ich will nicht mehr arbeiten, ich bin so müde",  # German
        "ik wil niet meer werken, ik ben zo moe",  # Dutch
        "eu não quero mais sair, estou muito cansada",  # Portuguese
        "non voglio più uscire, sono stanca di tutto",  # Italian
        "Привет, как дела? Я очень устал сегодня.",  # Russian
        "мне плохо",  # short, but clearly not English
        "Καλημέρα σας, τι κάνεις σήμερα;",  # Greek
        "मैं आज बहुत थका हुआ हूँ",  # Hindi
        "我今天很累，不想说话。",  # Chinese
        "今日はとても疲れました",  # Japanese
        "오늘 너무 피곤해요",  # Korean
        "أنا متعب جدا اليوم",  # Arabic
    ],
)
def test_other_languages_are_not_supported(text: str) -> None:
    assert not is_supported(text)


def test_short_latin_text_counts_as_supported() -> None:
    assert is_supported("hola que tal")  # < 4 words
    assert is_supported("merci beaucoup")


def test_one_stray_foreign_character_does_not_flag() -> None:
    assert is_supported("the sign said 出 and I left")


def test_script_profile() -> None:
    p = script_profile("abc кіl дом 我")
    assert p.latin == 4
    assert p.lookalike == 4  # к, і, о, м
    assert p.other == 2  # д, 我
    assert p.letters == 10
    ascii_only = script_profile("Hello, world 123")
    assert (ascii_only.latin, ascii_only.lookalike, ascii_only.other) == (10, 0, 0)


def test_long_text_is_sampled() -> None:
    english = "I do not know what to do with my life and I feel tired all the time. " * 20_000
    spanish = "no quiero hacer nada hoy, estoy muy cansada de todo y no sé qué hacer. " * 20_000
    t0 = time.perf_counter()
    assert is_supported(english)
    assert not is_supported(spanish)
    assert time.perf_counter() - t0 < 0.5  # sampled: measured well under 1 ms each


def test_short_text_is_fast() -> None:
    msg = "I have been feeling really low lately and I do not know who to talk to"
    n = 5000
    t0 = time.perf_counter()
    for _ in range(n):
        is_supported(msg)
    assert (time.perf_counter() - t0) / n < 2e-4  # measured ~3 us
