"""Medication names, generic and brand.

A single drug name says little, but combined with a town, an age and a diagnosis it narrows a person down, and
it is health data in its own right, so names go to the model as <MEDICATION_n>. Doses ("50mg") stay: they are
what a supportive reply may need to talk about safely, and they do not identify anyone.
"""

from __future__ import annotations

import re

from mindrail.privacy.recognizers._base import RegexRecognizer

#: Curated, not exhaustive: common psychiatric medicines first, then common others. Lower case.
MEDICATIONS: tuple[str, ...] = (
    # antidepressants
    "sertraline", "zoloft", "lustral", "fluoxetine", "prozac", "citalopram", "celexa", "cipramil",
    "escitalopram", "lexapro", "cipralex", "paroxetine", "paxil", "seroxat", "venlafaxine", "effexor",
    "desvenlafaxine", "pristiq", "duloxetine", "cymbalta", "mirtazapine", "remeron", "bupropion", "wellbutrin",
    "zyban", "amitriptyline", "nortriptyline", "clomipramine", "imipramine", "trazodone", "vortioxetine",
    "trintellix", "brintellix", "agomelatine", "phenelzine", "nardil", "esketamine", "spravato",
    # mood stabilisers
    "lithium", "priadel", "camcolit", "lamotrigine", "lamictal", "sodium valproate", "valproate",
    "divalproex", "depakote", "epilim", "carbamazepine", "tegretol",
    # antipsychotics
    "quetiapine", "seroquel", "olanzapine", "zyprexa", "risperidone", "risperdal", "aripiprazole", "abilify",
    "clozapine", "clozaril", "haloperidol", "haldol", "lurasidone", "latuda", "paliperidone", "invega",
    "ziprasidone", "geodon", "chlorpromazine", "cariprazine", "vraylar", "amisulpride",
    # anxiolytics, hypnotics
    "diazepam", "valium", "lorazepam", "ativan", "alprazolam", "xanax", "clonazepam", "klonopin", "rivotril",
    "temazepam", "zopiclone", "zolpidem", "ambien", "buspirone", "buspar", "pregabalin", "lyrica", "gabapentin",
    "neurontin", "propranolol", "hydroxyzine", "promethazine", "phenergan", "melatonin", "circadin",
    # ADHD
    "methylphenidate", "ritalin", "concerta", "lisdexamfetamine", "elvanse", "vyvanse", "dexamfetamine",
    "adderall", "atomoxetine", "strattera", "guanfacine",
    # addiction
    "naltrexone", "buprenorphine", "subutex", "suboxone", "methadone", "disulfiram", "antabuse", "acamprosate",
    "naloxone",
    # other common medicines
    "paracetamol", "acetaminophen", "tylenol", "ibuprofen", "nurofen", "advil", "aspirin", "naproxen",
    "codeine", "co-codamol", "tramadol", "morphine", "oxycodone", "oxycontin", "fentanyl", "levothyroxine",
    "metformin", "insulin", "omeprazole", "prednisolone", "sumatriptan", "salbutamol", "ventolin",
)  # fmt: skip

_ALTERNATIVES = "|".join(re.escape(name) for name in sorted(set(MEDICATIONS), key=len, reverse=True))


class MedicationRecognizer(RegexRecognizer):
    """Whole-word, case-insensitive match against the curated list (people rarely capitalise drug names)."""

    ENTITY = "MEDICATION"
    REGEX = re.compile(rf"(?<![\w-])(?:{_ALTERNATIVES})(?![\w-])", re.IGNORECASE)
    SCORE = 0.9
