"""Several gateway processes on one PostgreSQL, under load, with one of them killed (SIGKILL) and restarted: the
check issue 15 asks for, shared by the test (tests/gateway/test_multi_instance.py) and the benchmark
(benchmarks/run_scale.py, three repeated runs).

The processes are real ``mindrail serve`` processes started at the same moment on an empty database (so their
migrations race), with a webhook receiver and an SMTP server on loopback. Fifty simulated clients each hold one
conversation and send turns to the instances in rotation, as a load balancer would; a request that fails (its
instance died) is retried on the next instance with the same ``Idempotency-Key``. Afterwards the store is read
directly and every claim is checked: each turn a client was answered is stored once, the audit chain verifies,
each escalation and each overdue review was notified exactly once per channel, and each held reply timed out
exactly once. The messages are written for this project.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]

MESSAGES = (
    "I had a long day at work and I'm worn out.",
    "Can you suggest a way to wind down before bed?",
    "My flatmate and I argued about the dishes again.",
    "I keep thinking everyone would be better off without me.",
    "Some nights I wish I could just disappear for good.",
    "I've decided how I would kill myself and I have the pills here.",
    "Thanks, that helps a bit.",
    "I don't really know what to say today.",
)
"""Benign, moderate and high-risk messages, so turns are answered, held and escalated."""


def _consent_version() -> str:
    from mindrail.policy.consent import default_consent

    return default_consent().version


CONSENT = _consent_version()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- receivers
class WebhookSink:
    """Records every delivery's Idempotency-Key and sending instance (a receiver that does not deduplicate, so the
    counts are raw)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    json.loads(body)
                    received.append(
                        (self.headers.get("Idempotency-Key", ""), self.headers.get("X-Mindrail-Sender", ""))
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class SmtpSink:
    """aiosmtpd on loopback, recording each message's Message-ID and sending instance."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[tuple[str, str]] = []
        received = self.received

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = email.message_from_bytes(envelope.content)
                received.append((str(msg.get("Message-ID", "")), str(msg.get("X-Mindrail-Sender", ""))))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


# ---------------------------------------------------------------------------- instances
@dataclass
class Instance:
    """One ``mindrail serve`` process; ``start`` again after ``kill`` restarts it on the same port."""

    n: int
    args: list[str]
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    killed: list[int] = field(default_factory=list)
    """Pids this instance had when it was killed."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.workdir / f"instance{self.n}.{self.starts}.log").open("wb")
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mindrail.cli", "serve", "--port", str(self.port), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, transactions cut off mid-flight."""
        assert self.proc is not None
        self.killed.append(self.proc.pid)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                tail = (self.workdir / f"instance{self.n}.{self.starts - 1}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"instance {self.n} exited while starting:\n{tail}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"instance {self.n} did not become ready")


# ---------------------------------------------------------------------------- load
@dataclass
class Ledger:
    """What the clients were answered: per conversation, the idempotency keys of its turns in order."""

    turns: dict[str, list[str]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    retries: int = 0


async def _post(
    client: httpx.AsyncClient, instances: list[Instance], start: int, path: str, body: dict[str, Any], key: str | None
) -> tuple[httpx.Response, int]:
    """POST to the instances in rotation from ``start`` until one answers below 500; (response, retries)."""
    headers = {"Idempotency-Key": key} if key else {}
    for attempt in range(200):
        inst = instances[(start + attempt) % len(instances)]
        try:
            r = await client.post(inst.url + path, json=body, headers=headers)
            if r.status_code < 500:
                return r, attempt
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("no instance answered")


async def drive(instances: list[Instance], conversations: int, seconds: float, ledger: Ledger) -> None:
    """``conversations`` clients for ``seconds``, each turn to the next instance in rotation."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(c: int) -> None:
            r, _ = await _post(client, instances, c, "/v1/conversations", {"consent_version": CONSENT}, None)
            if r.status_code != 201:
                raise RuntimeError(f"starting a conversation: {r.status_code} {r.text[:300]}")
            cid = r.json()["id"]
            ledger.turns[cid] = []
            k = 0
            while time.monotonic() < deadline:
                key = f"c{c}-t{k}"
                text = MESSAGES[(c * 7 + k * 3) % len(MESSAGES)]
                body = {"model": "mindrail", "messages": [{"role": "user", "content": text}], "conversation_id": cid}
                t0 = time.perf_counter()
                r, retries = await _post(client, instances, c + k, "/v1/chat/completions", body, key)
                r.raise_for_status()
                ledger.latencies.append(time.perf_counter() - t0)
                ledger.retries += retries
                ledger.turns[cid].append(key)
                k += 1
                await asyncio.sleep(0.05)

        await asyncio.gather(*(one(c) for c in range(conversations)))


# ---------------------------------------------------------------------------- the scenario
def _policy(path: Path) -> Path:
    """The shipped policy, with every reply that reaches the model held for review: turns are held (and time out,
    since no clinician acts) as well as escalated."""
    from importlib import resources

    spec = yaml.safe_load(resources.files("mindrail.policy").joinpath("data/default.yaml").read_text("utf-8"))
    spec["default_actions"] = ["respond", "hold_for_review"]
    spec["id"] = "multi-instance-check"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run_scenario(
    pg_url: str,
    workdir: Path,
    *,
    instances: int = 3,
    conversations: int = 50,
    seconds: float = 60.0,
    kill_at: float = 20.0,
    down_s: float = 5.0,
    hold_timeout_s: float = 3.0,
    job_lease_s: float = 10.0,
    settle_s: float = 90.0,
) -> dict[str, Any]:
    """Run the check and return its figures (every count the closing note names)."""
    from mindrail.store import KeyRing, Store

    workdir.mkdir(parents=True, exist_ok=True)
    key_file = workdir / "keys.json"
    KeyRing.generate().save(key_file)
    webhook, smtp = WebhookSink(), SmtpSink()
    args = [
        "--db", pg_url,
        "--key-file", str(key_file),
        "--backend", "scripted",
        "--no-api-key",
        "--policy", str(_policy(workdir / "policy.yaml")),
        "--webhook-url", webhook.url,
        "--smtp-host", "127.0.0.1",
        "--smtp-port", str(smtp.port),
        "--notify-email", "oncall@clinic.test",
        "--smtp-from", "mindrail@clinic.test",
        "--sla", "low=0,moderate=0,high=0,imminent=0",
        "--hold-timeout", str(hold_timeout_s),
        "--job-lease", str(job_lease_s),
    ]  # fmt: skip
    fleet = [Instance(n, args, workdir) for n in range(instances)]
    ledger = Ledger()
    t_start = time.monotonic()
    try:
        for inst in fleet:  # all at once: their migrations race on the empty database
            inst.start()
        for inst in fleet:
            inst.wait_ready()
        startup_s = time.monotonic() - t_start

        async def killer() -> None:
            await asyncio.sleep(kill_at)
            fleet[0].kill()
            await asyncio.sleep(down_s)
            fleet[0].start()
            await asyncio.to_thread(fleet[0].wait_ready)

        async def main() -> None:
            await asyncio.gather(drive(fleet, conversations, seconds, ledger), killer())

        t0 = time.monotonic()
        asyncio.run(main())
        load_s = time.monotonic() - t0
        store = Store(pg_url, KeyRing.load(key_file), migrate=False)
        settled = _settle(store, settle_s)
        for inst in fleet:
            inst.stop()
        return _check(store, ledger, webhook, smtp, fleet) | {
            "instances": instances,
            "conversations": conversations,
            "seconds": seconds,
            "startup_s": round(startup_s, 1),
            "load_s": round(load_s, 1),
            "turns_per_s": round(sum(len(v) for v in ledger.turns.values()) / load_s, 1),
            "latency_p50_ms": round(statistics.median(ledger.latencies) * 1000, 1),
            "client_retries": ledger.retries,
            "settled": settled,
        }
    finally:
        for inst in fleet:
            inst.stop()
        webhook.close()
        smtp.close()


def _settle(store: Any, timeout_s: float) -> bool:
    """Wait until every hold has timed out and no notification job is pending (a killed instance's leases run
    out first)."""
    from sqlalchemy import func, select

    from mindrail.store.models import ReviewItem

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.reading() as s:
            holds = s.execute(
                select(func.count())
                .select_from(ReviewItem)
                .where(ReviewItem.kind == "hold", ReviewItem.released_at.is_(None))
            ).scalar_one()
        pending = store.job_counts().get("pending", 0)
        if holds == 0 and pending == 0:
            return True
        time.sleep(1.0)
    return False


def _message_id(notice: str, conversation_of: dict[int, str]) -> str:
    """The Message-ID the e-mail notifier gives the notice ``<event>:<item>`` (gateway.email)."""
    import hashlib

    item = int(notice.rsplit(":", 1)[1])
    key = f"{notice}:email:{conversation_of[item]}"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@clinic.test>"


def _deliveries(received: list[tuple[str, str]], want: set[str], killed: set[int]) -> dict[str, Any]:
    """Raw deliveries against the notices that should exist. Delivery is at least once: a repeat is expected only
    when an instance was killed after the receiver took a notice and before it recorded that (the first delivery
    then came from a killed process), and a receiver deduplicating by key (Idempotency-Key, Message-ID) sees each
    notice once. Anything else (a notice missing, one not due, a repeat from a live instance) is a failure."""
    first: dict[str, str] = {}
    repeats = outside = 0
    for key, sender in received:
        if key in first:
            repeats += 1
            pid = first[key].split(":")[1] if first[key].count(":") >= 2 else ""
            outside += not (pid.isdigit() and int(pid) in killed)
        else:
            first[key] = sender
    lost, extra = len(want - set(first)), len(set(first) - want)
    return {
        "deliveries": len(received),
        "lost": lost,
        "extra": extra,
        "repeats": repeats,
        "repeats_outside_kill": outside,
        "exactly_once": lost == extra == outside == 0,
    }


def _check(store: Any, ledger: Ledger, webhook: WebhookSink, smtp: SmtpSink, fleet: list[Instance]) -> dict[str, Any]:
    from sqlalchemy import select

    from mindrail.store.models import ReviewItem, Turn

    with store.reading() as s:
        rows = s.execute(select(Turn.conversation_id, Turn.seq, Turn.request_key).order_by(Turn.id)).all()
        items = s.execute(
            select(
                ReviewItem.id,
                ReviewItem.kind,
                ReviewItem.release_kind,
                ReviewItem.overdue_at,
                ReviewItem.conversation_id,
            )
        ).all()
    ids = {i[0]: i[4] for i in items}
    stored: dict[str, list[str | None]] = {}
    for cid, _seq, key in sorted(rows, key=lambda r: (r[0], r[1])):
        stored.setdefault(cid, []).append(key)
    answered = sum(len(v) for v in ledger.turns.values())
    lost = duplicated = out_of_order = 0
    for cid, keys in ledger.turns.items():
        have = stored.get(cid, [])
        lost += len(set(keys) - set(have))
        duplicated += len(have) - len(set(have)) + sum(1 for k in have if k not in set(keys))
        out_of_order += [k for k in have if k in set(keys)] != keys
    report = store.verify_audit()
    events = store.audit_events(limit=10**7)
    timed_out = Counter(e["payload"]["item"] for e in events if e["kind"] == "hold_timed_out")
    overdue_events = Counter(e["payload"]["item"] for e in events if e["kind"] == "review_overdue")
    holds = [i for i in items if i[1] == "hold"]
    escalations = [i for i in items if i[1] == "escalation"]
    overdue = [i for i in items if i[3] is not None]
    want = {f"escalation:{i[0]}" for i in escalations} | {f"overdue:{i[0]}" for i in overdue}
    killed = {pid for inst in fleet for pid in inst.killed}
    hooks = _deliveries([(k.rsplit(":", 1)[0], who) for k, who in webhook.received], want, killed)
    mails = _deliveries(smtp.received, {_message_id(k, ids) for k in want}, killed)
    return {
        "turns_answered": answered,
        "turns_stored": len(rows),
        "turns_lost": lost,
        "turns_duplicated": duplicated,
        "conversations_out_of_order": out_of_order,
        "chain_ok": report.ok,
        "chain_events": report.events,
        "chain_problems": report.problems[:5],
        "escalations": len(escalations),
        "overdue_items": len(overdue),
        "overdue_events_max": max(overdue_events.values(), default=0),
        "webhook_deliveries": hooks["deliveries"],
        "webhook_lost": hooks["lost"],
        "webhook_repeats": hooks["repeats"],
        "webhook_repeats_outside_kill": hooks["repeats_outside_kill"],
        "webhook_exactly_once": hooks["exactly_once"],
        "emails": mails["deliveries"],
        "emails_lost": mails["lost"],
        "email_repeats": mails["repeats"],
        "email_repeats_outside_kill": mails["repeats_outside_kill"],
        "emails_exactly_once": mails["exactly_once"],
        "holds": len(holds),
        "holds_timed_out": sum(1 for i in holds if i[2] == "timed_out"),
        "hold_timeouts_max_per_item": max(timed_out.values(), default=0),
        "holds_exactly_once": all(timed_out[i[0]] == 1 for i in holds) and len(timed_out) == len(holds),
        "restarts": sum(inst.starts for inst in fleet) - len(fleet),
        "jobs": store.job_counts(),
    }
