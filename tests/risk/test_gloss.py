"""The bilingual glossaries (Spanish, French, German, Portuguese → English): schema, language identification, the
gloss and its alignment, and how the engine uses it. Texts are written for the project."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mindrail.datafiles import DataFileError
from mindrail.risk.engine import RiskEngine
from mindrail.risk.gloss import GLOSS_LANGS, Glossary, GlossFile, default_glossary, fold
from mindrail.risk.types import Category, Flag, Level

SSH = Category.SUICIDE_SELF_HARM


def test_fold_keeps_one_output_per_input_character_except_sharp_s() -> None:
    assert fold("Mañana ÉTÉ não Brücke") == "manana ete nao brucke"
    assert fold("Straße") == "strasse"


def test_every_shipped_glossary_loads_with_a_source_date() -> None:
    g = default_glossary()
    assert set(g.files) == set(GLOSS_LANGS)
    for f in g.files.values():
        assert len(f.entries) >= 500
        assert f.checked.year >= 2026


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ya no aguanto más, no quiero seguir así", "es"),
        ("je suis tellement fatiguée de tout ça", "fr"),
        ("ich bin so müde und kann nicht mehr", "de"),
        ("estou cansada de tudo, não aguento mais", "pt"),
        ("I went to the shops with my sister today", None),
    ],
)
def test_identify_names_the_language_or_none(text: str, lang: str | None) -> None:
    assert default_glossary().identify(text) == lang


def test_a_gloss_reads_as_english_and_maps_back_to_the_source_words() -> None:
    g = default_glossary()
    text = "Je n'en peux plus, je vais sauter du pont ce soir"
    gl = g.gloss(text, "fr")
    assert "bridge" in gl.text and "tonight" in gl.text
    start = gl.text.index("bridge")
    s, e = gl.span_to_source(start, start + len("bridge"))
    assert "pont" in text[s:e]


def test_phrases_do_not_run_across_sentences() -> None:
    lex = GlossFile.model_validate(
        {
            "lang": "es",
            "checked": "2026-12-07",
            "function_words": ["que", "muy", "pero", "esta", "tengo", "estoy", "yo", "mi", "nada", "todo"],
            "entries": [["no puedo", "i can't"], ["no", "no"], ["puedo", "i can"]],
        }
    )
    g = Glossary({"es": lex})
    assert g.gloss("no. puedo", "es").text == "no. i can"
    assert g.gloss("no puedo", "es").text == "i can't"


def test_a_bad_entry_names_the_file_line_and_field(tmp_path: Path) -> None:
    data = {
        "lang": "es",
        "checked": "2026-12-07",
        "function_words": ["que", "muy", "pero", "esta", "tengo", "estoy", "yo", "mi", "nada", "todo"],
        "entries": [["quiero", "i want"], ["Mañana", "tomorrow"]],
    }
    for lang in GLOSS_LANGS:
        (tmp_path / f"{lang}.yaml").write_text(yaml.safe_dump({**data, "lang": lang}), encoding="utf-8")
    with pytest.raises(DataFileError) as exc:
        Glossary.load(tmp_path)
    msg = str(exc.value)
    assert "es.yaml" in msg and "entries" in msg and "lower case without diacritics" in msg


def test_a_glossed_crisis_is_assessed_and_flagged_glossed(engine: RiskEngine) -> None:
    text = "ya no aguanto más, esta noche me tomo todas las pastillas"
    a = engine.assess(text)
    assert a.level(SSH) >= Level.HIGH
    assert Flag.GLOSSED in a.flags and Flag.LANGUAGE_UNSUPPORTED not in a.flags
    for span in a.categories[SSH].evidence:
        assert 0 <= span.start < span.end <= len(text)


def test_other_languages_keep_the_unsupported_flag(engine: RiskEngine) -> None:
    a = engine.assess("ik ben zo moe van alles en ik weet niet meer wat ik moet doen")
    assert Flag.LANGUAGE_UNSUPPORTED in a.flags and Flag.GLOSSED not in a.flags


def test_english_is_never_glossed(engine: RiskEngine) -> None:
    a = engine.assess("My sister is visiting this weekend and we will go to the museum.")
    assert Flag.GLOSSED not in a.flags
    assert a.top_level == Level.NONE
