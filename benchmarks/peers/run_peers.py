"""Run the peer suicide/crisis detectors from PyPI over a JSONL file of texts.

Runs in the separate virtualenv built by ``benchmarks/peers/setup.sh``::

    .venv-peers/bin/python benchmarks/peers/run_peers.py --in texts.jsonl --out preds.jsonl

Input lines are ``{"id": ..., "text": "..."}``. For every (text, peer) pair one output line
``{"id", "peer", "score", "flag", "latency_ms"}`` is written, in input order:

* ``score``: the peer's continuous risk score in [0, 1] where it has one, else 0.0/1.0;
* ``flag``: the peer's own positive (crisis) decision, as its documentation defines it;
* ``latency_ms``: wall time of that one call.

A peer that raises on a text gets ``score`` and ``flag`` null for it, and the error is
counted. Every model is loaded once; stateful peers are reset before each text so that
texts are judged independently. Input and output are streamed line by line, and the
per-peer latency summary uses a bounded histogram, so memory does not grow with the input.
A one-line summary per peer goes to stderr. Texts are never printed.

See README.md beside this file for what each peer is and how its output is mapped.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import logging
import math
import pickle
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import IO, Any, ClassVar

# A prediction: (score in [0, 1], flag).
Prediction = tuple[float, bool]

SELF_CHECK_TEXT = "The weather was mild today and I finished the shopping early."


@dataclass
class Peer:
    """One loaded detector: a stable name, its distribution version and a predict function."""

    name: str
    version: str
    predict: Callable[[str], Prediction]
    notes: str = ""


# --------------------------------------------------------------------------------------
# rrt-advocate
# --------------------------------------------------------------------------------------


def load_rrt_advocate() -> Peer:
    """``CrisisEngine(user_id).assess(text)``; positive when ``crisis_level`` is not GREEN.

    The engine is stateful (sentiment sliding window, behavioural history and message
    timing), so ``reset_session()`` - the package's own API for a new session, which clears
    exactly that state - is called before every text: each text is judged as the first
    message of a fresh session. The assessor itself keeps no per-message state.
    ``score`` is ``confidence_score``, the aggregate crisis confidence in [0, 1] from which
    the level is derived (forced to 1.0 / BLACK when the self-harm keyword field fires).
    """
    from rrt_advocate import CrisisEngine, CrisisLevel

    engine = CrisisEngine("mindrail-benchmark")
    layer2 = "vader" if importlib.util.find_spec("vaderSentiment") is not None else "heuristic"

    def predict(text: str) -> Prediction:
        engine.reset_session()
        assessment = engine.assess(text)
        return float(assessment.confidence_score), assessment.crisis_level is not CrisisLevel.GREEN

    return Peer("rrt-advocate", dist_version("rrt-advocate"), predict, f"layer2={layer2}")


# --------------------------------------------------------------------------------------
# pantheon-guardrails
# --------------------------------------------------------------------------------------


def load_pantheon_guardrails() -> Peer:
    """``CrisisProtocol().check(text).triggered``: a keyword/regex screen, no score (0/1)."""
    from pantheon_guardrails import CrisisProtocol

    protocol = CrisisProtocol()

    def predict(text: str) -> Prediction:
        triggered = bool(protocol.check(text).triggered)
        return (1.0 if triggered else 0.0), triggered

    return Peer("pantheon-guardrails", dist_version("pantheon-guardrails"), predict)


# --------------------------------------------------------------------------------------
# cogno-aegis
# --------------------------------------------------------------------------------------


def load_cogno_aegis() -> Peer:
    """``InputGuard(crisis_rules=DEFAULT_CRISIS_RULES).check_crisis(text)``.

    Positive when the verdict fails with ``GuardCategory.CRISIS``. ``check_crisis`` is the
    crisis screen alone: ``check_text`` would also fail texts over the guard's length cap
    (``TOO_LONG``), which is not a crisis decision. Regex screen, no score (0/1).
    """
    from cogno_aegis import GuardCategory, InputGuard
    from cogno_aegis.safety import DEFAULT_CRISIS_RULES

    # The guard logs "event=crisis_detected locale=.." at WARNING for every hit; with no
    # handler configured Python would print each one to stderr. Keep stderr to summaries.
    aegis_log = logging.getLogger("cogno_aegis")
    aegis_log.addHandler(logging.NullHandler())
    aegis_log.propagate = False

    guard = InputGuard(crisis_rules=DEFAULT_CRISIS_RULES)

    def predict(text: str) -> Prediction:
        verdict = guard.check_crisis(text)
        crisis = (not verdict.ok) and verdict.category is GuardCategory.CRISIS
        return (1.0 if crisis else 0.0), crisis

    return Peer("cogno-aegis", dist_version("cogno-aegis"), predict)


# --------------------------------------------------------------------------------------
# suicide-text-predictor (torch LSTM + torchtext vocab, loaded without torchtext)
# --------------------------------------------------------------------------------------


class TorchtextVocab:
    """Pure-Python stand-in for the pickled ``torchtext.vocab.Vocab`` (torchtext 0.15.x).

    torchtext cannot run beside torch 2.13: its C++ extension is built against the torch
    ABI of its own release and fails to load. The pickle only holds the token list and the
    default (OOV) index, so lookup is reproduced here with torchtext's semantics (C++
    ``Vocab::__getitem__``): a known token maps to its position, an unknown one to the
    default index, and without a default index lookup of an unknown token is an error.
    """

    def __init__(self, itos: list[str], default_index: int | None) -> None:
        stoi: dict[str, int] = {}
        for i, token in enumerate(itos):
            if token in stoi:  # torchtext refuses duplicate tokens too
                raise ValueError(f"duplicate token at index {i} in vocab")
            stoi[token] = i
        self.itos = itos
        self.stoi = stoi
        self.default_index = default_index

    def __len__(self) -> int:
        return len(self.itos)

    def __getitem__(self, token: str) -> int:
        index = self.stoi.get(token)
        if index is not None:
            return index
        if self.default_index is None:
            raise KeyError("token not found and default index is not set")
        return self.default_index


class _PickledCppVocab:
    """Receives the state of ``torchtext._torchtext.Vocab`` (its pybind11 pickle)."""

    vocab: TorchtextVocab

    def __setstate__(self, state: tuple[str, list[int], list[str], list[Any]]) -> None:
        # Same checks as torchtext's _deserialize_vocab: (version, integers, strings, tensors).
        version_str, integers, strings, tensors = state
        if tensors:
            raise pickle.UnpicklingError("expected the vocab's tensor state to be empty")
        if version_str < "0.0.2":
            raise pickle.UnpicklingError(f"unsupported serialized Vocab version {version_str!r}")
        self.vocab = TorchtextVocab(list(strings), int(integers[0]) if integers else None)


class _PickledVocabModule:
    """Receives the state of ``torchtext.vocab.vocab.Vocab`` (an nn.Module wrapping the above)."""

    inner: _PickledCppVocab

    def __setstate__(self, state: dict[str, Any]) -> None:
        inner = state.get("vocab")
        if not isinstance(inner, _PickledCppVocab):
            raise pickle.UnpicklingError("vocab.pth has no torchtext C++ vocab inside")
        self.inner = inner


class _VocabUnpickler(pickle.Unpickler):
    """Unpickles vocab.pth with an allow-list: the two torchtext classes map to the shims
    above, and nothing else but OrderedDict and set (nn.Module bookkeeping) may be named."""

    _ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
        ("torchtext.vocab.vocab", "Vocab"): _PickledVocabModule,
        ("torchtext._torchtext", "Vocab"): _PickledCppVocab,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("__builtin__", "set"): set,
        ("builtins", "set"): set,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"vocab.pth names {module}.{name}, not allowed") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("vocab.pth unexpectedly references tensor storage")


def load_torchtext_vocab(path: Path) -> TorchtextVocab:
    """Read a ``torch.save``-d torchtext Vocab (zip archive holding ``<name>/data.pkl``)."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path.name}: expected one data.pkl, found {len(pickles)}")
        with archive.open(pickles[0]) as fh:
            obj = _VocabUnpickler(fh).load()
    if not isinstance(obj, _PickledVocabModule):
        raise ValueError(f"{path.name} does not hold a torchtext.vocab.Vocab")
    return obj.inner.vocab


# torchtext.data.utils.get_tokenizer("basic_english") == _basic_english_normalize (0.15.x),
# copied pattern for pattern.
_BASIC_ENGLISH = [
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\'", " '  "),
        (r"\"", ""),
        (r"\.", " . "),
        (r"<br \/>", " "),
        (r",", " , "),
        (r"\(", " ( "),
        (r"\)", " ) "),
        (r"\!", " ! "),
        (r"\?", " ? "),
        (r"\;", " "),
        (r"\:", " "),
        (r"\s+", " "),
    )
]


def basic_english_tokenize(line: str) -> list[str]:
    line = line.lower()
    for pattern, replacement in _BASIC_ENGLISH:
        line = pattern.sub(replacement, line)
    return line.split()


# suicide_text_predictor.predict_tweet's cleaning, in its order.
_URL = re.compile(r"http\S+|www.\S+")
_MENTION = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[^\w\s]")
STP_MAX_LENGTH = 512


def stp_token_ids(text: str, vocab: TorchtextVocab, max_length: int = STP_MAX_LENGTH) -> list[int]:
    """Exactly ``predict_tweet``'s preprocessing: lowercase, drop URLs, mentions -> @user,
    drop non-word characters, basic_english tokens, vocab ids, pad with <pad> / truncate."""
    cleaned = _URL.sub("", text.lower())
    cleaned = _MENTION.sub("@user", cleaned)
    cleaned = _NON_WORD.sub("", cleaned)
    ids = [vocab[token] for token in basic_english_tokenize(cleaned)]
    if len(ids) < max_length:
        ids += [vocab["<pad>"]] * (max_length - len(ids))
    else:
        ids = ids[:max_length]
    return ids


def _stp_package_dir() -> Path:
    # The package cannot be imported: its __init__ imports torchtext (and loads the vocab
    # with it at import time). find_spec locates it without executing it.
    spec = importlib.util.find_spec("suicide_text_predictor")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("suicide_text_predictor is not installed (run setup.sh)")
    return Path(next(iter(spec.submodule_search_locations)))


def load_suicide_text_predictor(torch_threads: int | None = None) -> Peer:
    """The package's bi-LSTM (``text_prediction.pt``) and vocab (``vocab.pth``), loaded once.

    ``predict_tweet`` rebuilds and reloads the 77 MB model on every call; here the model is
    built once, with the same architecture as the package's ``TextClassificationModel``
    (checked by a strict state-dict load). ``score`` is softmax(logits)[1], the probability
    of class 1 ("SUICIDE"); ``flag`` is argmax == 1, the package's own prediction.
    """
    import torch
    from torch import nn

    if torch_threads:
        torch.set_num_threads(torch_threads)

    class TextClassificationModel(nn.Module):
        def __init__(
            self,
            vocab_size: int,
            embed_dim: int,
            hidden_dim: int,
            num_classes: int,
            num_layers: int = 2,
            dropout: float = 0.5,
        ) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=1)
            self.lstm = nn.LSTM(
                embed_dim,
                hidden_dim,
                num_layers=num_layers,
                batch_first=True,
                bidirectional=True,
                dropout=dropout if num_layers > 1 else 0,
            )
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(hidden_dim * 2, num_classes)

        def forward(self, text: torch.Tensor) -> torch.Tensor:
            embedded = self.embedding(text)
            _output, (hidden, _cell) = self.lstm(embedded)
            hidden = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
            hidden = self.dropout(hidden)
            out: torch.Tensor = self.fc(hidden)
            return out

    pkg = _stp_package_dir()
    vocab = load_torchtext_vocab(pkg / "vocab.pth")
    model = TextClassificationModel(vocab_size=len(vocab), embed_dim=256, hidden_dim=128, num_classes=2)
    state = torch.load(pkg / "text_prediction.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()

    def predict(text: str) -> Prediction:
        ids = torch.tensor([stp_token_ids(text, vocab)], dtype=torch.long)
        with torch.no_grad():
            logits = model(ids)
            probabilities = torch.softmax(logits, dim=1)
            prediction = int(torch.argmax(logits, dim=1).item())
        return float(probabilities[0, 1].item()), prediction == 1

    notes = f"vocab={len(vocab)} torch={torch.__version__} threads={torch.get_num_threads()}"
    return Peer("suicide-text-predictor", dist_version("suicide-text-predictor"), predict, notes)


# --------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------

PEER_LOADERS: dict[str, Callable[[argparse.Namespace], Peer]] = {
    "rrt-advocate": lambda _args: load_rrt_advocate(),
    "pantheon-guardrails": lambda _args: load_pantheon_guardrails(),
    "cogno-aegis": lambda _args: load_cogno_aegis(),
    "suicide-text-predictor": lambda args: load_suicide_text_predictor(args.torch_threads),
}


class LatencyHistogram:
    """Bounded-memory latency summary: log-spaced buckets 1 % wide from 0.1 us upwards,
    so the median is exact to within about 1 % whatever the number of calls."""

    _FLOOR_MS = 1e-4
    _LOG_STEP = math.log(1.01)

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0

    def add(self, ms: float) -> None:
        bucket = math.floor(math.log(max(ms, self._FLOOR_MS) / self._FLOOR_MS) / self._LOG_STEP)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.n += 1

    def median(self) -> float | None:
        if self.n == 0:
            return None
        target = (self.n + 1) / 2
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= target:
                return self._FLOOR_MS * math.exp((bucket + 0.5) * self._LOG_STEP)
        return None  # pragma: no cover - unreachable


@dataclass
class PeerStats:
    n: int = 0
    positives: int = 0
    errors: int = 0
    error_types: collections.Counter[str] = field(default_factory=collections.Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


def iter_inputs(stream: IO[str], log: Callable[[str], None]) -> Iterator[tuple[Any, str]]:
    """Yield (id, text) per valid input line; malformed lines are reported (by line number
    only) and skipped."""
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log(f"input line {lineno}: not JSON, skipped")
            continue
        if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("text"), str):
            log(f"input line {lineno}: needs an 'id' and a string 'text', skipped")
            continue
        yield record["id"], record["text"]


def run(peers: list[Peer], inputs: Iterator[tuple[Any, str]], out: IO[str]) -> dict[str, PeerStats]:
    stats = {peer.name: PeerStats() for peer in peers}
    for text_id, text in inputs:
        for peer in peers:
            st = stats[peer.name]
            score: float | None
            flag: bool | None
            start = time.perf_counter()
            try:
                score, flag = peer.predict(text)
            except Exception as exc:  # a peer failing on one text must not stop the run
                score, flag = None, None
                st.errors += 1
                st.error_types[type(exc).__name__] += 1
            latency_ms = (time.perf_counter() - start) * 1000.0
            st.n += 1
            st.positives += flag is True
            st.latency.add(latency_ms)
            row = {
                "id": text_id,
                "peer": peer.name,
                "score": score,
                "flag": flag,
                "latency_ms": round(latency_ms, 4),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return stats


def load_peers(names: list[str], args: argparse.Namespace, log: Callable[[str], None]) -> list[Peer]:
    peers = []
    for name in names:
        start = time.perf_counter()
        peer = PEER_LOADERS[name](args)
        peer.predict(SELF_CHECK_TEXT)  # warm-up, not counted in the latencies
        notes = f" {peer.notes}" if peer.notes else ""
        log(f"loaded {peer.name} {peer.version} in {time.perf_counter() - start:.2f} s{notes}")
        peers.append(peer)
    return peers


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--in", dest="inp", type=Path, help="input JSONL ({id, text} per line); - for stdin")
    parser.add_argument("--out", type=Path, help="output JSONL; - for stdout")
    parser.add_argument(
        "--peers",
        default=",".join(PEER_LOADERS),
        help=f"comma-separated subset of: {', '.join(PEER_LOADERS)} (default: all)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads for suicide-text-predictor (default: torch's own)",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="load every selected peer, score one neutral sentence, and exit",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEER_LOADERS]
    if unknown or not names:
        parser.error(f"unknown peer(s): {', '.join(unknown) or '(none given)'}")
    args.peer_names = names
    if not args.self_check and (args.inp is None or args.out is None):
        parser.error("--in and --out are required (or use --self-check)")
    return args


def _open_in(path: Path) -> IO[str]:
    return sys.stdin if str(path) == "-" else path.open(encoding="utf-8")


def _open_out(path: Path) -> IO[str]:
    if str(path) == "-":
        return sys.stdout
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def log(msg: str) -> None:
        print(f"[peers] {msg}", file=sys.stderr, flush=True)

    peers = load_peers(args.peer_names, args, log)

    if args.self_check:
        for peer in peers:
            score, flag = peer.predict(SELF_CHECK_TEXT)
            if not 0.0 <= score <= 1.0:
                log(f"{peer.name}: score {score} outside [0, 1]")
                return 1
            log(f"self-check {peer.name}: score={score:.4f} flag={flag}")
        return 0

    skipped = 0

    def log_input(msg: str) -> None:
        nonlocal skipped
        skipped += 1
        log(msg)

    inp, out = _open_in(args.inp), _open_out(args.out)
    try:
        stats = run(peers, iter_inputs(inp, log_input), out)
    finally:
        if inp is not sys.stdin:
            inp.close()
        if out is not sys.stdout:
            out.close()

    for peer in peers:
        st = stats[peer.name]
        median = st.latency.median()
        median_txt = f"{median:.3f}" if median is not None else "n/a"
        errors = f" ({', '.join(f'{k} x{v}' for k, v in st.error_types.most_common())})" if st.errors else ""
        log(
            f"{peer.name} {peer.version}: n={st.n} positives={st.positives} errors={st.errors}{errors} "
            f"median_latency_ms={median_txt}"
        )
    if skipped:
        log(f"skipped {skipped} malformed input line(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
