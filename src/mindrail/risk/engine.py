"""The risk engine: one object that owns the encoder session, the heads and the pattern library.

engine = RiskEngine.load()
state = engine.new_conversation()
a = state.add_user(text)
state.add_assistant(reply)
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from mindrail.risk.conversation import ConversationConfig, ConversationState
from mindrail.risk.detector import HybridDetector, MessageResult
from mindrail.risk.encoder import Encoder
from mindrail.risk.gloss import default_glossary
from mindrail.risk.heads import HeadSet
from mindrail.risk.patterns import PatternDetector
from mindrail.risk.types import Assessment


def _single_threaded_blas() -> None:
    """The heads' small matrix products run in OpenBLAS, whose worker threads fight ONNX Runtime's for the same
    cores (measured: p50 2.7 ms → 6 ms at 2 threads). One BLAS thread is faster here. This is process-wide, so
    MINDRAIL_KEEP_BLAS_THREADS=1 leaves the host application's setting alone."""
    if os.environ.get("MINDRAIL_KEEP_BLAS_THREADS"):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class RiskEngine:
    def __init__(self, detector: HybridDetector, config: ConversationConfig | None = None) -> None:
        self.detector = detector
        self.config = config or ConversationConfig()
        self.version = detector.version

    @classmethod
    def load(
        cls,
        encoder_dir: Path | None = None,
        heads_path: Path | None = None,
        patterns_path: Path | None = None,
        *,
        threads: int = 2,
    ) -> RiskEngine:
        _single_threaded_blas()
        encoder = Encoder(encoder_dir, threads=threads)
        heads = HeadSet.load(heads_path)
        if heads.encoder_version != encoder.version:
            raise RuntimeError(
                f"the heads were trained on encoder {heads.encoder_version} but {encoder.version} is installed; "
                "restore the committed encoder (git checkout src/mindrail/risk/artifacts/encoder) "
                "or retrain with `make train`"
            )
        return cls(HybridDetector(encoder, heads, PatternDetector(patterns_path), glossary=default_glossary()))

    def new_conversation(self) -> ConversationState:
        return ConversationState(self.detector, self.config)

    def assess(self, text: str) -> Assessment:
        """One message with no conversation around it."""
        return self.new_conversation().add_user(text)

    def assess_many(self, texts: Sequence[str], batch_size: int = 64) -> list[Assessment]:
        return list(self.iter_assess(texts, batch_size))

    def iter_assess(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[Assessment]:
        """Independent messages, screened in batches for throughput, yielded in order (constant memory).

        With more than one thread, up to ``threads`` batches are screened at once: while one batch is in ONNX
        Runtime (which releases the GIL) another runs its pattern and head work in Python. Measured on 2 cores,
        this is what lifts batched throughput past 1,000 messages/s; at most ``threads + 1`` batches are held."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        workers = self.detector.encoder.threads
        if workers <= 1:
            for batch in _batched(texts, batch_size):
                yield from self._assess_batch(self.detector.screen(batch))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="mindrail-screen") as pool:
            pending: deque[Future[list[MessageResult]]] = deque()
            for batch in _batched(texts, batch_size):
                pending.append(pool.submit(self.detector.screen, batch))
                if len(pending) > workers:
                    yield from self._assess_batch(pending.popleft().result())
            while pending:
                yield from self._assess_batch(pending.popleft().result())

    def _assess_batch(self, screened: list[MessageResult]) -> list[Assessment]:
        return [self.new_conversation().add_screened_user(m) for m in screened]


def _batched(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@lru_cache(maxsize=1)
def default_engine() -> RiskEngine:
    return RiskEngine.load()
