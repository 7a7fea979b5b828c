#!/usr/bin/env python3
"""Validate and count the hand-authored mindrail dataset.

Usage:
    python data/authored/validate.py                # validate, print counts
    python data/authored/validate.py --write-readme # also refresh the counts block in data/README.md

Exits non-zero if any structural check or coverage minimum fails.
Only the standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"

CATEGORIES = [
    "suicide_self_harm",
    "harm_to_others",
    "psychosis",
    "mania",
    "abuse",
    "eating_disorder",
    "distress",
]
LEVELS = ["none", "low", "moderate", "high", "imminent"]
RANK = {lvl: i for i, lvl in enumerate(LEVELS)}
SUBJECTS = {"self", "someone_else", "unclear"}
TAGS = {
    "explicit", "indirect", "euphemism", "method", "plan", "intent", "preparatory", "attempt",
    "farewell", "passive", "self_harm", "past_history", "means_seeking", "idiom", "negation",
    "hypothetical", "fiction", "research", "third_party", "quote", "retraction", "obfuscation",
    "leetspeak", "invisible_chars", "homoglyph", "missing_apostrophe", "all_caps",
    "repeated_letters", "emoji", "slang", "typo", "benign", "psychoeducation", "counterfactual",
    "non_english", "long",
}
INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
ID_RE = re.compile(r"^[a-z]+(-[a-z]+)*-\d{3}$")

MINIMUMS = {
    "messages_total": 1400,
    "suicide_self_harm_positive": 350,
    "suicide_self_harm_low": 40,
    "suicide_self_harm_moderate": 40,
    "suicide_self_harm_high": 40,
    "suicide_self_harm_imminent": 40,
    "means_seeking": 120,
    "means_seeking_with_distress_or_ideation": 55,
    "means_seeking_neutral": 55,
    "harm_to_others_positive": 90,
    "psychosis_positive": 90,
    "mania_positive": 80,
    "abuse_positive": 90,
    "eating_disorder_positive": 80,
    "distress_only": 120,
    "benign_hard_negative": 350,
    "negation": 40,
    "hypothetical_fiction_research_quote": 60,
    "third_party": 50,
    "obfuscation": 80,
    "non_english": 25,
    "long": 20,
    "retraction": 15,
    "conversations": 80,
    "counterfactual_templates": 60,
}

errors: list[str] = []


def err(msg: str) -> None:
    errors.append(msg)


def load_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                err(f"{path.name}:{lineno}: blank line")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                err(f"{path.name}:{lineno}: JSON error: {exc}")
                continue
            if not isinstance(obj, dict):
                err(f"{path.name}:{lineno}: not an object")
                continue
            obj["_line"] = lineno
            rows.append(obj)
    return rows


def check_labels(where: str, labels: object, allow_none: bool = False) -> None:
    if not isinstance(labels, dict):
        err(f"{where}: labels/expect must be an object")
        return
    for cat, lvl in labels.items():
        if cat not in CATEGORIES:
            err(f"{where}: unknown category {cat!r}")
        if lvl not in LEVELS:
            err(f"{where}: unknown level {lvl!r}")
            continue
        if lvl == "none" and not allow_none:
            err(f"{where}: level 'none' must be omitted from labels")
        if cat == "distress" and lvl == "imminent":
            err(f"{where}: distress is never imminent")


def has_script(text: str, prefixes: tuple[str, ...]) -> bool:
    for ch in text:
        if ch.isalpha():
            try:
                name = unicodedata.name(ch)
            except ValueError:
                continue
            if name.startswith(prefixes):
                return True
    return False


def is_dev(group: str) -> bool:
    """Suggested held-out split: about 20% of groups, chosen by a stable hash of the group."""
    return int(hashlib.sha1(group.encode("utf-8")).hexdigest(), 16) % 5 == 0


def is_benign(m: dict) -> bool:
    labels = m["labels"]
    return labels == {} or labels == {"distress": "low"}


# ---------------------------------------------------------------- messages
def validate_messages(rows: list[dict]) -> dict[str, object]:
    ids: set[str] = set()
    for m in rows:
        where = f"messages.jsonl:{m['_line']}"
        for key in ("id", "text", "labels", "subject", "tags", "group"):
            if key not in m:
                err(f"{where}: missing {key}")
        extra = set(m) - {"id", "text", "labels", "subject", "tags", "group", "_line"}
        if extra:
            err(f"{where}: unexpected keys {sorted(extra)}")
        mid = m.get("id", "")
        if not ID_RE.match(mid):
            err(f"{where}: odd id {mid!r}")
        if mid in ids:
            err(f"{where}: duplicate id {mid}")
        ids.add(mid)
        if not isinstance(m.get("text"), str) or not m["text"].strip():
            err(f"{where}: empty text")
        check_labels(where, m.get("labels", {}))
        if m.get("subject") not in SUBJECTS:
            err(f"{where}: bad subject {m.get('subject')!r}")
        tags = m.get("tags", [])
        if not isinstance(tags, list) or not tags:
            err(f"{where}: tags must be a non-empty list")
            tags = []
        for t in tags:
            if t not in TAGS:
                err(f"{where}: unknown tag {t!r}")
        if len(set(tags)) != len(tags):
            err(f"{where}: duplicate tags")
        if not isinstance(m.get("group"), str) or not m["group"]:
            err(f"{where}: empty group")
        text = m.get("text", "")
        words = len(text.split())
        if "long" in tags and not 300 <= words <= 900:
            err(f"{where}: tagged long but has {words} words")
        if "long" not in tags and words > 300:
            err(f"{where}: {words} words but not tagged long")
        if "invisible_chars" in tags and not any(c in text for c in INVISIBLE):
            err(f"{where}: tagged invisible_chars but none present")
        if any(c in text for c in INVISIBLE) and "invisible_chars" not in tags:
            err(f"{where}: invisible characters present but not tagged")
        if "homoglyph" in tags and not has_script(text, ("CYRILLIC", "GREEK", "LATIN SMALL LETTER DOTLESS")):
            err(f"{where}: tagged homoglyph but no Cyrillic/Greek letters")
        if "means_seeking" in tags and "benign" in tags and m["labels"].get("suicide_self_harm"):
            err(f"{where}: benign means-seeking should not carry suicide labels")
        if "benign" in tags and not is_benign(m):
            err(f"{where}: tagged benign but labels {m['labels']}")
    # groups must not straddle wildly different ids: just make sure every group is used sensibly
    return {"ids": ids}


def message_counts(rows: list[dict]) -> tuple[dict[str, int], dict[str, Counter]]:
    c: dict[str, int] = {}
    per_cat: dict[str, Counter] = {cat: Counter() for cat in CATEGORIES}
    tag_counter: Counter = Counter()
    subj_counter: Counter = Counter()
    for m in rows:
        for cat, lvl in m["labels"].items():
            per_cat[cat][lvl] += 1
        for t in m["tags"]:
            tag_counter[t] += 1
        subj_counter[m["subject"]] += 1
    c["messages_total"] = len(rows)
    for cat in CATEGORIES:
        c[f"{cat}_positive"] = sum(per_cat[cat].values())
    for lvl in ("low", "moderate", "high", "imminent"):
        c[f"suicide_self_harm_{lvl}"] = per_cat["suicide_self_harm"][lvl]
    ms = [m for m in rows if "means_seeking" in m["tags"]]
    c["means_seeking"] = len(ms)
    def with_context(m: dict) -> bool:
        sui = m["labels"].get("suicide_self_harm")
        return bool(m["labels"].get("distress")) or sui in ("high", "imminent")

    c["means_seeking_with_distress_or_ideation"] = sum(1 for m in ms if with_context(m))
    c["means_seeking_neutral"] = sum(1 for m in ms if not with_context(m))
    c["means_seeking_neutral_labelled_low"] = sum(
        1 for m in ms if not with_context(m) and m["labels"].get("suicide_self_harm") == "low"
    )
    c["means_seeking_neutral_labelled_empty"] = sum(1 for m in ms if m["labels"] == {})
    c["distress_only"] = sum(1 for m in rows if set(m["labels"]) == {"distress"})
    c["labels_empty"] = sum(1 for m in rows if m["labels"] == {})
    c["benign_hard_negative"] = sum(1 for m in rows if is_benign(m))
    c["negation"] = tag_counter["negation"]
    c["hypothetical_fiction_research_quote"] = sum(
        1 for m in rows if {"hypothetical", "fiction", "research", "quote"} & set(m["tags"])
    )
    c["third_party"] = sum(1 for m in rows if "third_party" in m["tags"] or m["subject"] == "someone_else")
    c["obfuscation"] = tag_counter["obfuscation"]
    c["obfuscation_positive"] = sum(1 for m in rows if "obfuscation" in m["tags"] and m["labels"])
    c["non_english"] = tag_counter["non_english"]
    c["long"] = tag_counter["long"]
    c["retraction"] = tag_counter["retraction"]
    c["groups"] = len({m["group"] for m in rows})
    dev = [m for m in rows if is_dev(m["group"])]
    c["dev_split_messages"] = len(dev)
    for cat in CATEGORIES:
        c[f"dev_split_{cat}_positive"] = sum(1 for m in dev if cat in m["labels"])
    c["dev_split_benign_hard_negative"] = sum(1 for m in dev if is_benign(m))
    c["multi_label"] = sum(1 for m in rows if len([k for k in m["labels"] if k != "distress"]) >= 2)
    per_cat["_tags"] = tag_counter  # type: ignore[assignment]
    per_cat["_subject"] = subj_counter  # type: ignore[assignment]
    return c, per_cat


# ----------------------------------------------------------- conversations
def validate_conversations(rows: list[dict]) -> Counter:
    ids: set[str] = set()
    tag_counter: Counter = Counter()
    for conv in rows:
        where = f"conversations.jsonl:{conv['_line']}"
        cid = conv.get("id", "")
        if not re.match(r"^conv-\d{3}$", cid):
            err(f"{where}: odd id {cid!r}")
        if cid in ids:
            err(f"{where}: duplicate id {cid}")
        ids.add(cid)
        tags = conv.get("tags")
        if not isinstance(tags, list) or not tags:
            err(f"{where}: tags must be a non-empty list")
        else:
            tag_counter.update(tags)
        turns = conv.get("turns")
        if not isinstance(turns, list) or len(turns) < 3:
            err(f"{where}: needs at least 3 turns")
            continue
        n_checks = 0
        for i, turn in enumerate(turns):
            tw = f"{where} turn {i}"
            role = turn.get("role")
            if role not in ("user", "assistant"):
                err(f"{tw}: bad role {role!r}")
            if not isinstance(turn.get("text"), str) or not turn["text"].strip():
                err(f"{tw}: empty text")
            if i > 0 and turns[i - 1].get("role") == role:
                err(f"{tw}: roles must alternate")
            extra = set(turn) - {"role", "text", "expect", "expect_max"}
            if extra:
                err(f"{tw}: unexpected keys {sorted(extra)}")
            for key in ("expect", "expect_max"):
                if key in turn:
                    if role != "user":
                        err(f"{tw}: {key} only allowed on user turns")
                    check_labels(tw, turn[key], allow_none=(key == "expect_max"))
                    n_checks += 1
            lo, hi = turn.get("expect", {}), turn.get("expect_max", {})
            for cat in set(lo) & set(hi):
                if RANK.get(lo[cat], 0) > RANK.get(hi[cat], 4):
                    err(f"{tw}: expect {lo[cat]} > expect_max {hi[cat]} for {cat}")
        if turns[0].get("role") != "user" or turns[-1].get("role") != "user":
            err(f"{where}: conversations should start and end with a user turn")
        if "expect" not in turns[-1] and "expect_max" not in turns[-1]:
            err(f"{where}: last user turn has no expectation")
        if n_checks == 0:
            err(f"{where}: no expectations at all")
    return tag_counter


# ---------------------------------------------------------- counterfactuals
SLOT_RE = re.compile(r"\{([a-z_]+)\}")


def validate_counterfactuals(rows: list[dict], terms: dict) -> Counter:
    slots = set(terms["slots"])
    pronoun_keys = set(terms["pronoun_sets"]["sets"][0])
    ids: set[str] = set()
    cats: Counter = Counter()
    for t in rows:
        where = f"counterfactual_templates.jsonl:{t['_line']}"
        tid = t.get("id", "")
        if not re.match(r"^cf-\d{3}$", tid):
            err(f"{where}: odd id {tid!r}")
        if tid in ids:
            err(f"{where}: duplicate id {tid}")
        ids.add(tid)
        check_labels(where, t.get("labels", {}))
        if t.get("subject") not in SUBJECTS:
            err(f"{where}: bad subject")
        for tag in t.get("tags", []):
            if tag not in TAGS:
                err(f"{where}: unknown tag {tag!r}")
        used = SLOT_RE.findall(t.get("template", ""))
        if not used:
            err(f"{where}: template has no slot")
        for s in used:
            if s not in slots and s not in pronoun_keys:
                err(f"{where}: unknown slot {s!r}")
        if sorted(set(used)) != sorted(set(t.get("slots", []))):
            err(f"{where}: slots field {t.get('slots')} does not match template {sorted(set(used))}")
        if t.get("labels"):
            cats.update(t["labels"].keys())
        else:
            cats["(none)"] += 1
    for name, spec in terms["slots"].items():
        if "values" in spec and len(spec["values"]) < 3:
            err(f"identity_terms.json: slot {name} has fewer than 3 values")
    return cats


# ------------------------------------------------------------------- report
def render(c: dict[str, int], per_cat: dict[str, Counter], conv_tags: Counter, n_conv: int,
           n_conv_turn_checks: int, cf_cats: Counter, n_cf: int, n_cf_instances: int) -> str:
    lines = ["<!-- counts:start (generated by data/authored/validate.py --write-readme) -->", ""]
    lines.append("### messages.jsonl")
    lines.append("")
    lines.append(f"Total messages: **{c['messages_total']}** in {c['groups']} split groups. "
                 f"Messages with labels `{{}}`: {c['labels_empty']}. "
                 f"Messages with two or more non-distress categories: {c['multi_label']}.")
    lines.append("")
    lines.append("| category | low | moderate | high | imminent | total |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for cat in CATEGORIES:
        cc = per_cat[cat]
        lines.append(f"| {cat} | {cc['low']} | {cc['moderate']} | {cc['high']} | {cc['imminent']} | "
                     f"{sum(cc.values())} |")
    lines.append("")
    lines.append("| coverage item | count | minimum |")
    lines.append("|---|---:|---:|")
    for key, val in c.items():
        if key == "groups":
            continue
        mn = MINIMUMS.get(key)
        lines.append(f"| {key} | {val} | {mn if mn is not None else ''} |")
    lines.append("")
    lines.append("Tags: " + ", ".join(f"{t} {n}" for t, n in sorted(per_cat['_tags'].items())) + ".")
    lines.append("")
    lines.append("Subjects: " + ", ".join(f"{t} {n}" for t, n in sorted(per_cat['_subject'].items())) + ".")
    lines.append("")
    lines.append("### conversations.jsonl")
    lines.append("")
    lines.append(f"Conversations: **{n_conv}** (minimum 80), "
                 f"user turns with an expectation: {n_conv_turn_checks}.")
    lines.append("")
    tag_list = ", ".join(f"{t} {n}" for t, n in sorted(conv_tags.items()))
    lines.append(f"Conversation tags: {tag_list}.")
    lines.append("")
    lines.append("### counterfactual_templates.jsonl")
    lines.append("")
    lines.append(f"Templates: **{n_cf}** (minimum 60), expanding to {n_cf_instances} identity-swapped texts. "
                 "Templates per labelled category: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(cf_cats.items())) + ".")
    lines.append("")
    lines.append("<!-- counts:end -->")
    return "\n".join(lines)


def count_instances(rows: list[dict], terms: dict) -> int:
    total = 0
    pronoun_keys = set(terms["pronoun_sets"]["sets"][0])
    for t in rows:
        n = 1
        used = set(SLOT_RE.findall(t["template"]))
        if used & pronoun_keys:
            n *= len(terms["pronoun_sets"]["sets"])
        for s in used - pronoun_keys:
            spec = terms["slots"][s]
            if "values" in spec:
                n *= len(spec["values"])
            else:
                n *= sum(len(v) for g in spec["groups"].values() for v in g.values())
        total += n
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()

    messages = load_jsonl(HERE / "messages.jsonl")
    validate_messages(messages)
    counts, per_cat = message_counts(messages)

    convs = load_jsonl(HERE / "conversations.jsonl")
    conv_tags = validate_conversations(convs)
    n_checks = sum(1 for cv in convs for t in cv.get("turns", []) if "expect" in t or "expect_max" in t)
    counts_conv = len(convs)

    terms = json.loads((HERE / "identity_terms.json").read_text(encoding="utf-8"))
    cfs = load_jsonl(HERE / "counterfactual_templates.jsonl")
    cf_cats = validate_counterfactuals(cfs, terms)
    n_inst = count_instances(cfs, terms)

    all_counts = dict(counts)
    all_counts["conversations"] = counts_conv
    all_counts["counterfactual_templates"] = len(cfs)
    for key, mn in MINIMUMS.items():
        if all_counts.get(key, 0) < mn:
            err(f"coverage: {key} = {all_counts.get(key, 0)} < minimum {mn}")

    report = render(counts, per_cat, conv_tags, counts_conv, n_checks, cf_cats, len(cfs), n_inst)
    print(report)

    if args.write_readme:
        text = README.read_text(encoding="utf-8")
        start, end = "<!-- counts:start", "<!-- counts:end -->"
        i, j = text.find(start), text.find(end)
        if i < 0 or j < 0:
            err("README.md has no counts markers")
        else:
            text = text[:i] + report + text[j + len(end):]
            README.write_text(text, encoding="utf-8")
            print(f"\nupdated {README}")

    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
