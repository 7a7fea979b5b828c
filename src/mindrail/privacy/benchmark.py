"""Measured limits of the redactor: recall and precision on hand-written sentences, and speed.

Every sentence below was written for mindrail; all people, places and numbers are invented (phone numbers come
from the ranges reserved for drama, card and IBAN numbers are the published test values, NHS numbers are in the
999 test range, IP addresses are documentation ranges, domains are example.*). Some sentences are deliberately
hard (lower-case names, towns the small spaCy model does not know) so the figures are honest, not flattering.

Run ``python -m mindrail.privacy.benchmark`` to print the tables used in docs/privacy.md.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass

from mindrail.privacy.redactor import PiiFinding, Redactor, default_redactor
from mindrail.privacy.vault import Vault


@dataclass(frozen=True)
class PiiExample:
    """A sentence and the identifiers in it, as (label, exact substring); every occurrence counts."""

    text: str
    identifiers: tuple[tuple[str, str], ...] = ()


EXAMPLES: tuple[PiiExample, ...] = (
    PiiExample(
        "I live at 42 Elm Street with my partner and the depression is getting worse.",
        (("ADDRESS", "42 Elm Street"),),
    ),
    PiiExample(
        "My name is Priya Raman and you can text me on 07700 900123 if that helps.",
        (("PERSON", "Priya Raman"), ("PHONE_NUMBER", "07700 900123")),
    ),
    PiiExample(
        "Dr. Okafor increased my sertraline last week but I still can't sleep.",
        (("PERSON", "Okafor"), ("MEDICATION", "sertraline")),
    ),
    PiiExample(
        "Nurse Ramirez on the ward was the only one who listened to me.",
        (("PERSON", "Ramirez"),),
    ),
    PiiExample(
        "I told my therapist Jenna that I have been thinking about suicide again.",
        (("PERSON", "Jenna"),),
    ),
    PiiExample(
        "They kept me at St. Mary's Hospital for two weeks after the overdose.",
        (("FACILITY", "St. Mary's Hospital"),),
    ),
    PiiExample(
        "After Riverside Clinic discharged me I moved back to Leeds to be near my mum.",
        (("FACILITY", "Riverside Clinic"), ("LOCATION", "Leeds")),
    ),
    PiiExample(
        "The staff at Oakwood Psychiatric Unit took my phone and my Seroquel made me foggy.",
        (("FACILITY", "Oakwood Psychiatric Unit"), ("MEDICATION", "Seroquel")),
    ),
    PiiExample(
        "My GP at Maple Grove Medical Centre wants me to try fluoxetine instead of Zoloft.",
        (("FACILITY", "Maple Grove Medical Centre"), ("MEDICATION", "fluoxetine"), ("MEDICATION", "Zoloft")),
    ),
    PiiExample(
        "I was born on 14 February 1988 and every birthday since my dad left has been awful.",
        (("DATE", "14 February 1988"),),
    ),
    PiiExample(
        "Email me at sam.hollis@example.com, I don't like talking on the phone.",
        (("EMAIL_ADDRESS", "sam.hollis@example.com"),),
    ),
    PiiExample(
        "My NHS number is 999 123 4500 if the crisis team needs it.",
        (("NHS_NUMBER", "999 123 4500"),),
    ),
    PiiExample(
        "He used my card 4111 1111 1111 1111 to pay for everything and now I'm in debt.",
        (("CREDIT_CARD", "4111 1111 1111 1111"),),
    ),
    PiiExample(
        "My wages go into GB82 WEST 1234 5698 7654 32 and he checks it every day.",
        (("IBAN", "GB82 WEST 1234 5698 7654 32"),),
    ),
    PiiExample(
        "Someone at 203.0.113.45 keeps logging into my account and I feel watched.",
        (("IP_ADDRESS", "203.0.113.45"),),
    ),
    PiiExample(
        "I wrote about my panic attacks on https://quietdays.example.org/posts/12 last night.",
        (("URL", "https://quietdays.example.org/posts/12"),),
    ),
    PiiExample(
        "The form asked for my SSN, 912-34-5678, and I froze.",
        (("SSN", "912-34-5678"),),
    ),
    PiiExample(
        "flat 3b, 17 Rose Lane is where it happened and I can't go back there.",
        (("ADDRESS", "flat 3b, 17 Rose Lane"),),
    ),
    PiiExample(
        "My boyfriend Marcus shouts at me and my sister Aisha says I should leave.",
        (("PERSON", "Marcus"), ("PERSON", "Aisha")),
    ),
    PiiExample(
        "We moved from Lagos to Manchester when I was nine and I never fitted in.",
        (("LOCATION", "Lagos"), ("LOCATION", "Manchester")),
    ),
    PiiExample(
        "I take lithium and quetiapine, and paracetamol when the headaches come.",
        (("MEDICATION", "lithium"), ("MEDICATION", "quetiapine"), ("MEDICATION", "paracetamol")),
    ),
    PiiExample(
        "On 03/04/2021 my brother Daniel Okonkwo died and nothing has been the same.",
        (("DATE", "03/04/2021"), ("PERSON", "Daniel Okonkwo")),
    ),
    PiiExample(
        "Call my mum on 0161 496 0732 if something happens to me.",
        (("PHONE_NUMBER", "0161 496 0732"),),
    ),
    PiiExample(
        "My psychiatrist, Dr Helen Whitfield, thinks it might be bipolar disorder.",
        (("PERSON", "Helen Whitfield"),),
    ),
    PiiExample(
        "I was in Willow Ward at Northgate Hospital for most of the summer.",
        (("FACILITY", "Willow Ward"), ("FACILITY", "Northgate Hospital")),
    ),
    PiiExample(
        "my friend sam from swindon is the only person who knows about the self-harm.",
        (("PERSON", "sam"), ("LOCATION", "swindon")),
    ),
    PiiExample(
        "Tomorrow I have therapy and last night I felt hopeless, but I want to keep going.",
    ),
    PiiExample(
        "I have PTSD, OCD and ADHD, and CBT and DBT have both helped a bit with the anxiety.",
    ),
    PiiExample(
        "Depression makes me feel like a burden. I think about suicide most days.",
    ),
    PiiExample(
        "I was born in 1990 in Cork and my mother called me Siobhan after her sister.",
        (("DATE", "1990"), ("LOCATION", "Cork"), ("PERSON", "Siobhan")),
    ),
    PiiExample(
        "Mrs Patel next door heard everything through the wall at 9 Hawthorn Close, Bristol BS1 4DJ.",
        (("PERSON", "Patel"), ("ADDRESS", "9 Hawthorn Close, Bristol BS1 4DJ")),
    ),
    PiiExample(
        "My counsellor is called Tomasz and he is helping me stop taking diazepam.",
        (("PERSON", "Tomasz"), ("MEDICATION", "diazepam")),
    ),
    PiiExample(
        "In March I started mindfulness and it's been two years since the crisis, which feels good.",
    ),
    PiiExample(
        "You can reach me on +1 (212) 555-0147 or at jo.martinez@example.net most evenings.",
        (("PHONE_NUMBER", "+1 (212) 555-0147"), ("EMAIL_ADDRESS", "jo.martinez@example.net")),
    ),
    PiiExample(
        "I keep thinking about the night Kofi Mensah left me at the station in Birmingham.",
        (("PERSON", "Kofi Mensah"), ("LOCATION", "Birmingham")),
    ),
)


#: Written after the recognisers were tuned and scored once, never used for tuning: the honest figure.
HELD_OUT: tuple[PiiExample, ...] = (
    PiiExample(
        "honestly since grandma passed i just stay in my room at 88 Kingfisher Road and dont eat much",
        (("ADDRESS", "88 Kingfisher Road"),),
    ),
    PiiExample(
        "my ex Jordan Blake still texts me from a new number 07700 900876 every night",
        (("PERSON", "Jordan Blake"), ("PHONE_NUMBER", "07700 900876")),
    ),
    PiiExample(
        "The crisis team from Ashford Community Hospital came round but I pretended I was fine.",
        (("FACILITY", "Ashford Community Hospital"),),
    ),
    PiiExample(
        "Prof. Lindqvist said the venlafaxine withdrawal would pass in a few weeks. It hasn't.",
        (("PERSON", "Lindqvist"), ("MEDICATION", "venlafaxine")),
    ),
    PiiExample(
        "I grew up in Glasgow but now I'm in Cardiff and I don't know a single person here.",
        (("LOCATION", "Glasgow"), ("LOCATION", "Cardiff")),
    ),
    PiiExample(
        "my date of birth is 22/07/1995 if you need it for the referral",
        (("DATE", "22/07/1995"),),
    ),
    PiiExample(
        "I keep rereading the messages Chloe sent before she blocked me.",
        (("PERSON", "Chloe"),),
    ),
    PiiExample(
        "They found me at the bridge on Victoria Street and took me to A&E at Royal Derby Hospital.",
        (("LOCATION", "Victoria Street"), ("FACILITY", "Royal Derby Hospital")),
    ),
    PiiExample(
        "I've been on Lexapro 10mg and Ativan as needed since the spring.",
        (("MEDICATION", "Lexapro"), ("MEDICATION", "Ativan")),
    ),
    PiiExample(
        "My social worker Bernadette O'Connell has not returned my calls in two weeks.",
        (("PERSON", "Bernadette O'Connell"),),
    ),
    PiiExample(
        "Please send the letter to 5 Larch Avenue, Portsmouth PO1 2AB, not my old address.",
        (("ADDRESS", "5 Larch Avenue, Portsmouth PO1 2AB"),),
    ),
    PiiExample(
        "I can't stop crying at work and my manager Ahmed noticed today.",
        (("PERSON", "Ahmed"),),
    ),
    PiiExample(
        "My husband found the pills. His name is Gareth and he's scared too.",
        (("PERSON", "Gareth"),),
    ),
    PiiExample(
        "I'm from a small village near Aberystwyth and everyone there knows everyone's business.",
        (("LOCATION", "Aberystwyth"),),
    ),
    PiiExample(
        "The bank card ending 5555 5555 5555 4444 is the one he took.",
        (("CREDIT_CARD", "5555 5555 5555 4444"),),
    ),
    PiiExample(
        "I'm 34, I was diagnosed with borderline personality disorder at 19 and I still feel broken.",
    ),
    PiiExample(
        "Yesterday was the worst day in months; I sat in the car for hours thinking about ending it.",
    ),
    PiiExample(
        "Our family doctor, Dr. Nakamura, moved away in 2020 and I never found anyone like her.",
        (("PERSON", "Nakamura"),),
    ),
    PiiExample(
        "Text me at 020 7946 0991, or email r.okeke@example.co.uk, I check it more.",
        (("PHONE_NUMBER", "020 7946 0991"), ("EMAIL_ADDRESS", "r.okeke@example.co.uk")),
    ),
    PiiExample(
        "On 9 November 2023 my daughter Lily was taken into care and I haven't coped since.",
        (("DATE", "9 November 2023"), ("PERSON", "Lily")),
    ),
)


#: A second held-out batch, written after all tuning (including the probe-driven additions) and scored once.
HELD_OUT_2: tuple[PiiExample, ...] = (
    PiiExample(
        "so my stepdad Craig moved in and now i sleep at my nan's on Orchard Way most nights",
        (("PERSON", "Craig"),),
    ),
    PiiExample(
        "They want me back at Fernhill Clinic on the 12th of January for a medication review.",
        (("FACILITY", "Fernhill Clinic"), ("DATE", "12th of January")),
    ),
    PiiExample(
        "I'm Tariq, I'm 19, I study in Sheffield and I haven't left my room in a week.",
        (("PERSON", "Tariq"), ("LOCATION", "Sheffield")),
    ),
    PiiExample(
        "The pharmacist said not to mix tramadol with my mirtazapine but I already did.",
        (("MEDICATION", "tramadol"), ("MEDICATION", "mirtazapine")),
    ),
    PiiExample(
        "Ms Adeyemi from the school rang my dad and now he knows everything.",
        (("PERSON", "Adeyemi"),),
    ),
    PiiExample(
        "If I go missing my cousin Róisín has a key, her number is 07700 900614.",
        (("PERSON", "Róisín"), ("PHONE_NUMBER", "07700 900614")),
    ),
    PiiExample(
        "Every time I drive past Kingsway Hospital I remember the night they sectioned me.",
        (("FACILITY", "Kingsway Hospital"),),
    ),
    PiiExample(
        "I've blocked him everywhere but he made a new account, @dan.r.1987, to message me.",
        (("USERNAME", "@dan.r.1987"),),
    ),
    PiiExample(
        "My anxiety is worst on Sunday evenings before work; breathing exercises help a bit.",
    ),
    PiiExample(
        "Father Michael at St Anne's was the first person I told about the abuse.",
        (("PERSON", "Michael"), ("LOCATION", "St Anne's")),
    ),
)

#: No identifiers at all, written to catch over-redaction of ordinary support-chat language (held out too).
CLEAN: tuple[PiiExample, ...] = (
    PiiExample("Christmas is always the hardest time for me since the divorce."),
    PiiExample("I called the Samaritans on Sunday night and it helped a little."),
    PiiExample("Sometimes I scroll Instagram for hours and feel worse about myself."),
    PiiExample("My GP referred me to talking therapies but the waiting list is six months."),
    PiiExample("I went to A&E after I cut too deep, and the nurse was kind."),
    PiiExample("Do you think God is punishing me for what I did when I was younger?"),
    PiiExample("Mornings are the worst; by the evening I can usually eat something."),
    PiiExample("My mum keeps saying I should just go for a walk and I'll feel better."),
    PiiExample("I've been self-harming again and I'm ashamed to tell my psychiatrist."),
    PiiExample("Is it normal to feel nothing at all at a funeral?"),
    PiiExample("Work gave me a week off but being at home alone makes it worse."),
    PiiExample("I relapsed after eighteen months sober and I hate myself for it."),
)


@dataclass(frozen=True)
class Scores:
    """Identifier-level recall (fully covered), finding-level precision, and recall by label."""

    identifiers: int
    recalled: int
    partially_recalled: int
    findings: int
    correct_findings: int
    label_matches: int
    by_label: dict[str, tuple[int, int]]
    missed: tuple[tuple[int, str], ...]
    spurious: tuple[tuple[int, str], ...]

    @property
    def recall(self) -> float:
        return self.recalled / self.identifiers if self.identifiers else 1.0

    @property
    def precision(self) -> float:
        return self.correct_findings / self.findings if self.findings else 1.0


def _gold_spans(example: PiiExample) -> list[tuple[str, int, int]]:
    spans: list[tuple[str, int, int]] = []
    for label, value in example.identifiers:
        start = example.text.find(value)
        if start < 0:
            raise ValueError("evaluation identifier not found in its sentence")
        while start >= 0:
            spans.append((label, start, start + len(value)))
            start = example.text.find(value, start + 1)
    return spans


def evaluate(redactor: Redactor | None = None, examples: tuple[PiiExample, ...] = EXAMPLES) -> Scores:
    """Score ``redactor.find`` against the hand-labelled examples.

    An identifier counts as recalled only if every letter and digit of it is inside some finding (a partial
    cover still leaks part of it). A finding counts as correct if it overlaps any identifier.
    """
    redactor = redactor or default_redactor()
    identifiers = recalled = partial = findings_total = correct = label_matches = 0
    per_label: dict[str, list[int]] = {}
    missed: list[tuple[int, str]] = []
    spurious: list[tuple[int, str]] = []
    for index, example in enumerate(examples):
        gold = _gold_spans(example)
        found: list[PiiFinding] = redactor.find(example.text)
        covered = [False] * len(example.text)
        for finding in found:
            for position in range(finding.start, finding.end):
                covered[position] = True
        for label, start, end in gold:
            identifiers += 1
            counts = per_label.setdefault(label, [0, 0])
            counts[1] += 1
            needed = [i for i in range(start, end) if example.text[i].isalnum()]
            hit = [covered[i] for i in needed]
            if all(hit):
                recalled += 1
                counts[0] += 1
                if any(f.label == label and f.start < end and start < f.end for f in found):
                    label_matches += 1
            else:
                missed.append((index, label))
                if any(hit):
                    partial += 1
        for finding in found:
            findings_total += 1
            if any(finding.start < end and start < finding.end for _, start, end in gold):
                correct += 1
            else:
                spurious.append((index, finding.label))
    return Scores(
        identifiers=identifiers,
        recalled=recalled,
        partially_recalled=partial,
        findings=findings_total,
        correct_findings=correct,
        label_matches=label_matches,
        by_label={label: (hit, total) for label, (hit, total) in sorted(per_label.items())},
        missed=tuple(missed),
        spurious=tuple(spurious),
    )


def benchmark_messages(count: int = 200, length: int = 300, seed: int = 0) -> list[str]:
    """``count`` messages of about ``length`` characters, stitched from the example sentences."""
    rng = random.Random(seed)
    sentences = [example.text for example in EXAMPLES]
    messages: list[str] = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(part) + 1 for part in parts) < length:
            parts.append(rng.choice(sentences))
        messages.append(" ".join(parts)[:length])
    return messages


def benchmark(redactor: Redactor | None = None, count: int = 200, warmup: int = 20) -> dict[str, float]:
    """Milliseconds per ``redact`` call on ~300-character messages after warm-up: p50, p90 and mean."""
    redactor = redactor or default_redactor()
    messages = benchmark_messages(count)
    for message in messages[:warmup]:
        redactor.redact(message, Vault())
    timings: list[float] = []
    for message in messages:
        vault = Vault()
        started = time.perf_counter()
        redactor.redact(message, vault)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "p50_ms": statistics.median(timings),
        "p90_ms": timings[int(0.9 * (len(timings) - 1))],
        "mean_ms": statistics.fmean(timings),
        "messages": float(len(timings)),
    }


def _fraction(hit: int, total: int) -> str:
    return f"{hit / total:.0%} ({hit}/{total})" if total else "n/a"


def main() -> None:
    """Print the markdown tables for docs/privacy.md."""
    started = time.perf_counter()
    redactor = default_redactor()
    load_s = time.perf_counter() - started
    sets = {"development": EXAMPLES, "held-out": HELD_OUT, "held-out 2": HELD_OUT_2, "clean": CLEAN}
    results = {name: evaluate(redactor, examples) for name, examples in sets.items()}
    print("| set | sentences | identifiers | recall | partly hidden | precision | right label |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, scores in results.items():
        print(
            f"| {name} | {len(sets[name])} | {scores.identifiers} | {_fraction(scores.recalled, scores.identifiers)} "
            f"| {scores.partially_recalled} | {_fraction(scores.correct_findings, scores.findings)} "
            f"| {_fraction(scores.label_matches, scores.recalled)} |"
        )
    labels = sorted({label for scores in results.values() for label in scores.by_label})
    print("\n| label | " + " | ".join(results) + " |\n| --- |" + " --- |" * len(results))
    for label in labels:
        cells = [_fraction(*scores.by_label[label]) if label in scores.by_label else "-" for scores in results.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for name, scores in results.items():
        print(f"\n{name}: missed {list(scores.missed)}; spurious {dict(Counter(lb for _, lb in scores.spurious))}")
    timing = benchmark(redactor)
    print(f"\nload: {load_s:.2f} s; redact on 300-char messages: {timing}")


if __name__ == "__main__":
    main()
