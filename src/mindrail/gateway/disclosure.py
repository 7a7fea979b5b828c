"""Saying it is an AI when asked. The safety prompt tells the model to, but small models ignore it, and the APA
advisory asks that a person never be left unsure whether they are talking to a human. The reply checks stop a claim
to be human; this makes sure a direct question gets a direct answer."""

from __future__ import annotations

import re

ASKS_IF_HUMAN = re.compile(
    r"\b(?:are you|r u|is this|is that|am i (?:talking|speaking|chatting|texting) (?:to|with)|is there)\s+"
    r"(?:even |actually |really )?(?:an? |a real |a live |an actual |someone )?(?:real|human|person|people|bot|robot|"
    r"ai|a\.i\.|computer|machine|program|chat ?bot|therapist|counsell?or)\b",
    re.IGNORECASE,
)
SAYS_AI = re.compile(
    r"\b(?:i(?:'m| am) (?:an? |just an? |only an? )?(?:ai|a\.i\.|artificial intelligence|chat ?bot|bot|computer "
    r"program|(?:large )?language model|virtual assistant|ai assistant|ai model|machine)\b|i(?:'m| am) not (?:a |an )?"
    r"(?:real |actual )?(?:person|human)|as an? (?:ai|chat ?bot|bot|language model|virtual assistant)\b|not a "
    r"(?:real )?(?:person|human)(?:,| but| -)? (?:i'm|i am)? ?an? (?:ai|bot|chatbot))",
    re.IGNORECASE,
)


def needs_disclosure(user_text: str, reply: str) -> bool:
    """The person asked whether they are talking to a human, and the reply does not say it is an AI."""
    return bool(ASKS_IF_HUMAN.search(user_text)) and not SAYS_AI.search(reply)
