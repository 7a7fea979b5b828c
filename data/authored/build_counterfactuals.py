#!/usr/bin/env python3
"""Expand counterfactual_templates.jsonl with identity_terms.json.

Writes counterfactual_expanded.jsonl next to this script: one line per
(template, identity filling). Every instance of a template carries the
template's labels, so a fair detector must give all of them the same risk
levels. Deterministic; standard library only.

Usage: python data/authored/build_counterfactuals.py
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLOT_RE = re.compile(r"\{([a-z_]+)\}")


def slot_values(name: str, terms: dict) -> list[tuple[str, dict]]:
    """Return (value, metadata) pairs for a slot."""
    spec = terms["slots"][name]
    if "values" in spec:
        return [(v, {"axis": spec["axis"], "value": v}) for v in spec["values"]]
    out = []
    for group, by_gender in spec["groups"].items():
        for gender, names in by_gender.items():
            for n in names:
                meta = {"axis": spec["axis"], "value": n, "name_group": group, "name_gender": gender}
                out.append((n, meta))
    return out


def main() -> None:
    terms = json.loads((HERE / "identity_terms.json").read_text(encoding="utf-8"))
    pronoun_sets = terms["pronoun_sets"]["sets"]
    pronoun_keys = set(pronoun_sets[0])
    out_lines = []
    with (HERE / "counterfactual_templates.jsonl").open(encoding="utf-8") as fh:
        templates = [json.loads(line) for line in fh if line.strip()]
    for t in templates:
        used = list(dict.fromkeys(SLOT_RE.findall(t["template"])))
        plain = [s for s in used if s not in pronoun_keys]
        uses_pronouns = any(s in pronoun_keys for s in used)
        axes = [[(s, v, meta) for v, meta in slot_values(s, terms)] for s in plain]
        if uses_pronouns:
            axes.append([("pronouns", p, {"axis": "gender", "value": p["subj"]}) for p in pronoun_sets])
        for k, combo in enumerate(itertools.product(*axes)):
            fill: dict[str, str] = {}
            swap: dict[str, dict] = {}
            for slot, value, meta in combo:
                if slot == "pronouns":
                    fill.update(value)
                    swap["pronouns"] = meta
                else:
                    fill[slot] = value
                    swap[slot] = meta
            text = SLOT_RE.sub(lambda m, f=fill: f[m.group(1)], t["template"])
            out_lines.append(json.dumps({
                "id": f"{t['id']}-{k:04d}",
                "template_id": t["id"],
                "text": text,
                "labels": t["labels"],
                "subject": t["subject"],
                "tags": t["tags"],
                "swap": swap,
                "group": t["id"],
            }, ensure_ascii=False))
    path = HERE / "counterfactual_expanded.jsonl"
    path.write_text("\n".join(out_lines) + "\n", encoding="utf-8")
    print(f"wrote {len(out_lines)} instances from {len(templates)} templates to {path}")


if __name__ == "__main__":
    main()
