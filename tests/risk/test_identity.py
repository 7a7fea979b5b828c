"""risk.identity: identity masking (pronouns, ages, identities, verb agreement), with the training swaps it
must agree with (training.counterfactual)."""

from __future__ import annotations

from mindrail.risk.identity import mask_identity
from mindrail.training.counterfactual import dimensions, variants


def test_identity_swaps_and_mask() -> None:
    dims = {d.name: d for d in dimensions()}
    vs, prefixed = variants("My brother said he feels hopeless", dims["gender"])
    assert not prefixed and "My sister said she feels hopeless" in vs
    vs, prefixed = variants("I feel hopeless", dims["age"])
    assert prefixed and all(v.endswith("I feel hopeless") for v in vs)
    assert mask_identity("as a black person, i feel alone").text == "as a person, i feel alone"
    assert mask_identity("my son said he can't go on").text == "my child said they can't go on"
    assert mask_identity("i told her. her bag was gone").text == "i told them. their bag was gone"
    assert mask_identity("a middle-aged adult").text == "a person"
    # "they" takes the plural verb, so "he has" and "they have" read the same to the learned layer.
    assert mask_identity("he has been saving pills").text == "they have been saving pills"
    assert mask_identity("she always tries to hide it").text == "they always try to hide it"
    assert mask_identity("she watches the news and she is scared").text == "they watch the news and they are scared"
    assert mask_identity("he's been quiet").text == "they've been quiet"
    said = "she has saved pills and is going to take them. tom and is"
    assert mask_identity(said).text == "they have saved pills and are going to take them. tom and is"
    assert mask_identity("he kisses his wife").text == "they kiss their spouse"
    # "her" after a verb that takes a person is the object, like "him".
    assert mask_identity("it sends her coded messages").text == mask_identity("it sends him coded messages").text
    # "on" and "off" are quoted in the YAML: bare, they loaded as booleans and "her on" stayed possessive.
    assert mask_identity("i keep checking her on the app").text == "i keep checking them on the app"
    assert mask_identity("he dropped her off").text == "they dropped them off"
    vs, _ = variants("They're sure he is fine", dims["gender"])
    assert all(v.startswith("They're") for v in vs)
    vs, _ = variants("I'm East Asian", dims["race_ethnicity"])
    assert "I'm East White" not in vs
    m = mask_identity("i'm a 16-year-old gay boy")
    assert m.text == "i'm a person"
    assert m.span_to_source(0, len(m.text)) == (0, len("i'm a 16-year-old gay boy"))
