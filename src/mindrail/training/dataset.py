"""The training and development corpus: public labelled data in ``shared/data`` plus the project's own
hand-written examples in ``data/authored``.

Each source labels only some categories. An example therefore carries ``known``: the categories its source
actually labels. A head for category C trains and is evaluated only on examples where C is known, so a
depression post that never mentions suicide is not silently treated as "no suicide risk" evidence, and a
post from a source without suicide labels that does mention suicide is left out of the suicide head.

Splits are by a seeded hash of ``group`` (a user, a question, a paraphrase family), so near-duplicates never
straddle train and dev: 60% train, 20% calib (calibration and thresholds), 20% dev (reported metrics).
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mindrail.risk.types import CATEGORIES, Category, Level

SPLITS = ("train", "calib", "dev")
SSH = Category.SUICIDE_SELF_HARM
DIS = Category.DISTRESS

# Sources without suicide labels: a text that mentions suicide is unlabelled for the suicide head, not negative.
_SUICIDE_MENTION = re.compile(
    r"suicid|kill (?:my|him|her)self|end (?:my life|it all)|want(?:ed)? to die|wanna die|overdos|self[- ]harm"
    r"|\bcutting\b|better off dead|take my (?:own )?life|hang myself|not (?:want to )?wake up|kms\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    source: str
    group: str
    labels: dict[Category, Level]
    known: frozenset[Category]
    weight: float = 1.0
    subject: str = "self"
    tags: tuple[str, ...] = ()
    split: str = field(default="train")

    def label(self, category: Category) -> Level | None:
        """The level for ``category``, or None where the source does not label it."""
        if category not in self.known:
            return None
        return self.labels.get(category, Level.NONE)


EVAL_SSH_NEGATIVE = "eval:ssh_negative"
"""Tag of examples that are unlabelled for suicide in training (their source cannot say) but are the negative
class of the source's own task when it is held out: r/depression against r/SuicideWatch in SDCNL."""


def eval_ssh_label(ex: Example) -> Level | None:
    """The suicide/self-harm label an evaluation of the example's own source uses (``EVAL_SSH_NEGATIVE``)."""
    lv = ex.label(SSH)
    if lv is None and EVAL_SSH_NEGATIVE in ex.tags:
        return Level.NONE
    return lv


def split_of(group: str, seed: int = 13) -> str:
    h = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16) % 100
    return "train" if h < 60 else ("calib" if h < 80 else "dev")


def _csv_rows(path: Path, encoding: str = "utf-8") -> Iterator[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding=encoding, newline="") as fh:
        yield from csv.DictReader(fh)


def make_example(
    id_: str,
    text: str,
    source: str,
    group: str,
    labels: dict[Category, Level],
    known: set[Category] | frozenset[Category],
    seed: int,
    weight: float = 1.0,
    **extra: object,
) -> Example:
    """An Example from a source row, as every loader builds one: split by group, and suicide/self-harm unknown (not
    negative) where a source that does not label it mentions it, so an unlabelled mention never teaches "no risk"."""
    known = set(known)
    if SSH in known and SSH not in labels and source not in {"authored", "cssrs500"} and _SUICIDE_MENTION.search(text):
        known.discard(SSH)
    return Example(
        id=id_,
        text=text,
        source=source,
        group=f"{source}:{group}",
        labels={c: lv for c, lv in labels.items() if lv > Level.NONE},
        known=frozenset(known),
        weight=weight,
        split=split_of(f"{source}:{group}", seed),
        **extra,  # type: ignore[arg-type]
    )


ALL = frozenset(CATEGORIES)


def _labelled_rows(path: Path) -> Iterator[tuple[int, dict[str, Any], dict[Category, Level]]]:
    """Rows of a labelled JSONL file (the authored format) with parsed labels; errors name the line."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                labels = {Category(k): Level.parse(v) for k, v in row.get("labels", {}).items()}
                if "id" not in row or "text" not in row:
                    raise KeyError("id and text are required")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            yield lineno, row, labels


def load_authored(root: Path, seed: int) -> Iterator[Example]:
    yield from _authored(root / "authored" / "messages.jsonl", seed, weight=3.0, tags="tags")


def _authored(path: Path, seed: int, *, weight: float, tags: str) -> Iterator[Example]:
    for _, row, labels in _labelled_rows(path):
        yield make_example(
            row["id"],
            row["text"],
            "authored",
            row.get("group") or row["id"],
            labels,
            ALL,
            seed,
            weight=weight,
            subject=row.get("subject", "self"),
            tags=tuple(row.get(tags, ())),
        )


def load_extra(path: Path, seed: int) -> Iterator[Example]:
    """Extra labelled examples (e.g. `mindrail export labels`): the authored format, plus ``known``, the
    categories the labels speak for (default: the labelled ones). Errors name the line."""
    for lineno, row, labels in _labelled_rows(path):
        try:
            known = frozenset(Category(k) for k in row.get("known", [c.value for c in labels]))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{lineno}: known: {exc}") from None
        id_ = str(row["id"])
        yield make_example(
            id_,
            str(row["text"]),
            "extra",
            row.get("group") or id_,
            labels,
            known,
            seed,
            weight=3.0,
            tags=tuple(row.get("tags", ())),
        )


_CSSRS = {
    "Supportive": ({}, 0.0),
    "Indicator": ({DIS: Level.LOW}, 0.0),
    "Ideation": ({SSH: Level.LOW, DIS: Level.MODERATE}, 1.0),
    "Behavior": ({SSH: Level.HIGH, DIS: Level.MODERATE}, 1.0),
    "Attempt": ({SSH: Level.HIGH, DIS: Level.MODERATE}, 1.0),
}


def _cssrs_posts(raw: str) -> list[str]:
    try:
        posts = ast.literal_eval(raw)
        if isinstance(posts, list):
            return [str(p) for p in posts]
    except (ValueError, SyntaxError):
        pass
    # 28 rows were cut at a spreadsheet cell limit and are not valid list literals; keep their text.
    return [raw.strip("[]'\" ")]


def load_cssrs(shared: Path, seed: int) -> Iterator[Example]:
    for row in _csv_rows(shared / "cssrs_reddit_500" / "500_Reddit_users_posts_labels.csv"):
        labels, _ = _CSSRS[row["Label"]]
        text = "\n\n".join(_cssrs_posts(row["Post"]))
        yield make_example(
            f"cssrs-{row['User']}", text, "cssrs500", row["User"], dict(labels), {SSH, DIS}, seed, weight=0.5
        )


def load_sdcnl(shared: Path, seed: int) -> Iterator[Example]:
    for i, row in enumerate(_csv_rows(shared / "sdcnl" / "training-set.csv")):
        text = f"{row['title']}\n{row['selftext']}".strip()
        if row["is_suicide"] == "1":
            yield make_example(
                f"sdcnl-{i}",
                text,
                "sdcnl",
                row["author"] or str(i),
                {SSH: Level.LOW, DIS: Level.MODERATE},
                {SSH, DIS},
                seed,
                weight=0.5,
            )
        else:
            # r/depression: suicide status unknown (many posts hold passive ideation), distress yes.
            yield make_example(
                f"sdcnl-{i}",
                text,
                "sdcnl",
                row["author"] or str(i),
                {DIS: Level.MODERATE},
                {DIS},
                seed,
                weight=0.5,
                tags=(EVAL_SSH_NEGATIVE,),
            )


_ABUSE_SUBS = {"domesticviolence", "survivorsofabuse"}


def load_dreaddit(shared: Path, seed: int) -> Iterator[Example]:
    for row in _csv_rows(shared / "dreaddit" / "dreaddit-train.csv", encoding="cp1252"):
        stressed = row["label"] == "1"
        labels: dict[Category, Level] = {DIS: Level.LOW} if stressed else {}
        known = {DIS, SSH, Category.PSYCHOSIS, Category.MANIA}
        if row["subreddit"] in _ABUSE_SUBS:
            if stressed:
                labels[Category.ABUSE] = Level.MODERATE
                known.add(Category.ABUSE)
        else:
            known.add(Category.ABUSE)
        yield make_example(
            f"dreaddit-{row['id']}", row["text"], "dreaddit", row["post_id"], labels, known, seed, weight=0.5
        )


def _imhi_post(raw: str) -> str:
    return raw.removeprefix("Post:").strip()


def load_imhi(shared: Path, seed: int) -> Iterator[Example]:
    base = shared / "imhi_train"
    for name in ("reddit_train.csv", "reddit_valid.csv"):
        for i, row in enumerate(_csv_rows(base / "DR" / name)):
            yes = row["response"].strip().lower().startswith("yes")
            text = _imhi_post(row["post"])
            yield make_example(
                f"imhi-dr-{name[:-4]}-{i}",
                text,
                "imhi_dr",
                text[:64],
                {DIS: Level.MODERATE} if yes else {},
                {DIS, SSH},
                seed,
                weight=0.5,
            )
    for name in ("train.csv", "val.csv"):
        for i, row in enumerate(_csv_rows(base / "SAD" / name)):
            text = _imhi_post(row["post"])
            yield make_example(
                f"imhi-sad-{name[:-4]}-{i}",
                text,
                "imhi_sad",
                text[:64],
                {DIS: Level.LOW},
                {DIS, SSH, Category.PSYCHOSIS, Category.MANIA, Category.HARM_TO_OTHERS},
                seed,
                weight=0.3,
            )


_COUNSEL_TOPICS: dict[str, dict[Category, Level]] = {
    "depression": {DIS: Level.MODERATE},
    "anxiety": {DIS: Level.LOW},
    "stress": {DIS: Level.LOW},
    "grief-and-loss": {DIS: Level.LOW},
    "trauma": {DIS: Level.LOW},
    "self-esteem": {DIS: Level.LOW},
    "eating-disorders": {Category.EATING_DISORDER: Level.MODERATE, DIS: Level.LOW},
    "domestic-violence": {Category.ABUSE: Level.MODERATE, DIS: Level.LOW},
    "self-harm": {SSH: Level.MODERATE, DIS: Level.MODERATE},
}


def load_counsel_chat(shared: Path, seed: int) -> Iterator[Example]:
    seen: set[str] = set()
    for row in _csv_rows(shared / "counsel_chat" / "20200325_counsel_chat.csv"):
        qid = row["questionID"]
        if qid in seen:
            continue
        seen.add(qid)
        text = f"{row['questionTitle']}\n{row['questionText'] or ''}".strip()
        topic = row["topic"]
        labels = dict(_COUNSEL_TOPICS.get(topic, {}))
        known = {SSH, Category.PSYCHOSIS, Category.MANIA}
        if topic in _COUNSEL_TOPICS:
            known |= set(labels)
        if topic not in {
            "anger-management",
            "family-conflict",
            "parenting",
            "relationships",
            "intimacy",
            "marriage",
            "relationship-dissolution",
            "domestic-violence",
            "children-adolescents",
        }:
            known.add(Category.ABUSE)
        if topic != "anger-management":
            known.add(Category.HARM_TO_OTHERS)
        yield make_example(f"counsel-{qid}", text, "counsel_chat", qid, labels, known, seed)


_ANNOMI_RISKY = (
    "self-harm",
    "violence",
    "anxiety",
    "weight",
    "diet",
    "drug",
    "alcohol",
    "gambling",
    "managing life",
)


def load_annomi(shared: Path, seed: int, limit: int = 4000) -> Iterator[Example]:
    n = 0
    for row in _csv_rows(shared / "annomi" / "AnnoMI-simple.csv"):
        topic = row["topic"].lower()
        if any(t in topic for t in _ANNOMI_RISKY):
            continue
        text = row["utterance_text"].strip()
        if len(text.split()) < 4:
            continue
        yield make_example(
            f"annomi-{row['transcript_id']}-{row['utterance_id']}",
            text,
            "annomi",
            row["transcript_id"],
            {},
            ALL - {DIS},
            seed,
            weight=0.5,
        )
        n += 1
        if n >= limit:
            return


def load_kaggle_suicide(shared: Path, seed: int) -> Iterator[Example]:
    """r/SuicideWatch against r/teenagers posts: subreddit labels, so SuicideWatch posts are ideation of unknown
    plan (moderate on the v2 ladder) and teenagers posts only speak for suicide."""
    import gzip

    path = shared / "suicide_detection_kaggle" / "suicide_detection_sample.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            pos = row["class"] == "suicide"
            labels = {SSH: Level.MODERATE, DIS: Level.MODERATE} if pos else {}
            known = {SSH, DIS} if pos else {SSH}
            yield make_example(f"kaggle-{i}", row["text"], "kaggle_suicide", str(i), labels, known, seed, weight=0.3)


def load_twitter_intention(shared: Path, seed: int) -> Iterator[Example]:
    for i, row in enumerate(_csv_rows(shared / "twitter_suicidal_intention" / "twitter-suicidal_data.csv")):
        pos = row["intention"].strip() == "1"
        labels = {SSH: Level.MODERATE} if pos else {}
        yield make_example(f"twint-{i}", row["tweet"], "twitter_intention", str(i), labels, {SSH}, seed, weight=0.3)


def load_twitter_tweets(shared: Path, seed: int) -> Iterator[Example]:
    path = shared / "twitter_suicidal_tweets" / "Suicide_Ideation_Dataset_Twitter-based.csv"
    for i, row in enumerate(_csv_rows(path)):
        text = (row.get("Tweet") or "").strip()
        if not text:
            continue
        pos = row["Suicide"].strip() == "Potential Suicide post"
        labels = {SSH: Level.LOW} if pos else {}
        yield make_example(f"twtw-{i}", text, "twitter_tweets", str(i), labels, {SSH}, seed, weight=0.3)


_GOEMOTIONS_DISTRESS = frozenset({"grief", "sadness", "remorse", "nervousness", "fear", "disappointment"})


def load_goemotions(
    shared: Path, seed: int, files: tuple[str, ...] = ("train.tsv",), limit: int = 12000
) -> Iterator[Example]:
    """Everyday Reddit comments: no risk category, distress low for sad or fearful ones. Only the train file is
    trained on; dev and test are kept for the everyday-benign evaluation."""
    base = shared / "goemotions"
    names = (base / "emotions.txt").read_text(encoding="utf-8").split()
    n = 0
    for name in files:
        with (base / name).open(encoding="utf-8") as fh:
            for line in fh:
                text, ids, cid = line.rstrip("\n").split("\t")
                emotions = {names[int(k)] for k in ids.split(",") if k}
                labels = {DIS: Level.LOW} if emotions & _GOEMOTIONS_DISTRESS else {}
                yield make_example(
                    f"goemo-{cid}", text, "goemotions", cid, labels, ALL - {Category.ABUSE}, seed, weight=0.3
                )
                n += 1
                if n >= limit:
                    return


def esconv_dialogues(shared: Path, files: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name in files:
        with (shared / "esconv" / name).open(encoding="utf-8") as fh:
            for k, line in enumerate(fh):
                if line.strip():
                    yield f"{name.removesuffix('.json')}-{k}", json.loads(line)


def load_esconv(
    shared: Path, seed: int, files: tuple[str, ...] = ("train.json",), limit: int = 8000
) -> Iterator[Example]:
    """Help-seekers' turns in emotional-support chats: troubles, not crises. They speak for the crisis
    categories only (a turn that mentions suicide drops out of the suicide head, as everywhere)."""
    known = {SSH, Category.HARM_TO_OTHERS, Category.PSYCHOSIS, Category.MANIA, Category.EATING_DISORDER}
    n = 0
    for did, conv in esconv_dialogues(shared, files):
        for t, turn in enumerate(conv["dialog"]):
            text = turn["text"].strip()
            if turn["speaker"] != "usr" or len(text.split()) < 5:
                continue
            yield make_example(f"esconv-{did}-{t}", text, "esconv", did, {}, known, seed, weight=0.3)
            n += 1
            if n >= limit:
                return


def _holds_conversations(path: Path) -> bool:
    with path.open(encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "")
    return bool(first) and "turns" in json.loads(first)


def load_authored_v2(root: Path, seed: int) -> Iterator[Example]:
    """The v2 training messages (``data/authored/v2/*.jsonl``, labelled by data/LABELLING.md)."""
    for path in sorted((root / "authored" / "v2").glob("*.jsonl")):
        if _holds_conversations(path):
            continue
        yield from _authored(path, seed, weight=2.0, tags="topic")


LOADERS = {
    "cssrs500": load_cssrs,
    "sdcnl": load_sdcnl,
    "dreaddit": load_dreaddit,
    "imhi": load_imhi,
    "counsel_chat": load_counsel_chat,
    "annomi": load_annomi,
    "kaggle_suicide": load_kaggle_suicide,
    "twitter_intention": load_twitter_intention,
    "twitter_tweets": load_twitter_tweets,
    "goemotions": load_goemotions,
    "esconv": load_esconv,
}
# Public sources with suicide/self-harm positives: the leave-one-source-out folds.
LOSO_SOURCES = ("cssrs500", "sdcnl", "counsel_chat", "kaggle_suicide", "twitter_intention", "twitter_tweets")


def default_shared_dir() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return Path("../shared/data")


def default_project_data_dir() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "data" / "authored").is_dir():
            return parent / "data"
    return Path("data")


def load_corpus(
    shared: Path | None = None,
    project_data: Path | None = None,
    seed: int = 13,
    sources: tuple[str, ...] | None = None,
    extra: tuple[Path, ...] = (),
) -> list[Example]:
    """All examples, deterministic order. ``sources`` restricts to a subset (``authored`` included by name)."""
    shared = shared or default_shared_dir()
    project_data = project_data or default_project_data_dir()
    out: list[Example] = []
    if sources is None or "authored" in sources:
        out.extend(load_authored(project_data, seed))
        out.extend(load_authored_v2(project_data, seed))
    for name, loader in LOADERS.items():
        if sources is None or name in sources:
            out.extend(loader(shared, seed))
    for path in extra:
        out.extend(load_extra(path, seed))
    return out


def identity_augmented(examples: Sequence[Example], seed: int = 13, per_example: int = 2) -> list[Example]:
    """Counterfactual data augmentation: copies of project-authored TRAIN examples with gender, name,
    race/ethnicity, sexual orientation or age swapped (or stated), same labels. It teaches the heads that
    identity is not risk; the dev split is never augmented."""
    import random

    from mindrail.training.counterfactual import dimensions, variants

    rng = random.Random(seed)
    dims = dimensions()
    out: list[Example] = []
    for ex in examples:
        if ex.source != "authored" or ex.split != "train":
            continue
        for k in range(per_example):
            vs, _ = variants(ex.text, rng.choice(dims))
            if not vs:
                continue
            text = rng.choice(vs)
            out.append(
                Example(
                    f"{ex.id}~cf{k}",
                    text,
                    ex.source,
                    ex.group,
                    dict(ex.labels),
                    ex.known,
                    ex.weight,
                    ex.subject,
                    (*ex.tags, "identity_augmented"),
                    ex.split,
                )
            )
    return out
