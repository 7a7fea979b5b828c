"""Encryption at rest: AES-256-GCM with a key ring, so keys can be rotated without losing old records.

A sealed value is ``b"MR1" + key_id (8 bytes) + nonce (12) + ciphertext+tag``. The associated data binds a value
to where it lives (table, row, field), so a ciphertext copied into another row does not decrypt. Keys come from
``MINDRAIL_KEY`` (one base64 key) or a key-ring file named by ``MINDRAIL_KEY_FILE``:
``{"active": "<id>", "keys": {"<id>": "<base64 32 bytes>", ...}}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"MR1"
KEY_ENV = "MINDRAIL_KEY"
KEY_FILE_ENV = "MINDRAIL_KEY_FILE"


class KeyError_(RuntimeError):
    """No usable key, or a value sealed with a key the ring does not hold. Messages never include key bytes."""


class DecryptError(RuntimeError):
    """A sealed value was tampered with, moved to another field, or sealed with another key of the same id."""


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"mindrail-key-id" + key).hexdigest()[:16]


def _decode(b64: str, where: str) -> bytes:
    try:
        key = base64.b64decode(b64, validate=True)
    except ValueError:
        raise KeyError_(f"{where}: not valid base64") from None
    if len(key) != 32:
        raise KeyError_(f"{where}: a key must be 32 bytes (AES-256), got {len(key)}")
    return key


@dataclass
class KeyRing:
    keys: dict[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyError_("the active key id is not in the key ring")
        for kid, key in self.keys.items():
            if kid != _key_id(key):
                raise KeyError_(f"key id {kid!r} does not match its key (ids are derived from the key)")
        self._aead = {kid: AESGCM(k) for kid, k in self.keys.items()}

    @classmethod
    def generate(cls) -> KeyRing:
        key = AESGCM.generate_key(bit_length=256)
        kid = _key_id(key)
        return cls({kid: key}, kid)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> KeyRing:
        env = os.environ if environ is None else environ
        if env.get(KEY_FILE_ENV):
            return cls.load(Path(env[KEY_FILE_ENV]))
        if env.get(KEY_ENV):
            key = _decode(env[KEY_ENV], KEY_ENV)
            kid = _key_id(key)
            return cls({kid: key}, kid)
        raise KeyError_(
            f"no encryption key: set {KEY_ENV} to a base64 32-byte key or {KEY_FILE_ENV} to a key-ring file "
            "(`mindrail keys init` writes one)"
        )

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            keys = {str(k): _decode(str(v), f"{path}: keys.{k}") for k, v in data["keys"].items()}
            return cls(keys, str(data["active"]))
        except FileNotFoundError:
            raise KeyError_(f"{path}: key-ring file not found") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyError_(f"{path}: not a key-ring file (expected JSON with 'active' and 'keys')") from None

    def save(self, path: Path) -> None:
        data = {"active": self.active, "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()}}
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)

    def rotated(self) -> KeyRing:
        """A ring with a new active key; old keys stay so existing records still open until re-encrypted."""
        staged = self.staged()
        return staged.activated(next(k for k in staged.keys if k not in self.keys))

    def staged(self) -> KeyRing:
        """A ring with a new key that is not active yet: instances given it open values sealed with it, and go on
        sealing with the active key. The first step of rotating keys under several running instances
        (docs/deployment.md): every instance holds the new key before any seals with it."""
        key = AESGCM.generate_key(bit_length=256)
        return KeyRing({**self.keys, _key_id(key): key}, self.active)

    def activated(self, kid: str) -> KeyRing:
        """The same keys with ``kid`` active (it must already be in the ring)."""
        if kid not in self.keys:
            raise KeyError_(f"key {kid!r} is not in the key ring (stage it first: mindrail keys add)")
        return KeyRing(dict(self.keys), kid)

    def derive(self, label: str) -> bytes:
        """A 32-byte secret for another purpose (e.g. signing chat cookies), derived from the active key."""
        return hashlib.sha256(b"mindrail-derive\x00" + label.encode() + b"\x00" + self.keys[self.active]).digest()

    def derive_all(self, label: str) -> tuple[bytes, ...]:
        """The secret for ``label`` from every key in the ring, the active key's first: what to accept while keys
        rotate under several instances, whose active keys differ until every one has the new ring."""
        others = [k for k in self.keys if k != self.active]
        return tuple(KeyRing(self.keys, k).derive(label) for k in (self.active, *others))

    def without_retired(self, keep: set[str]) -> KeyRing:
        return KeyRing({k: v for k, v in self.keys.items() if k in keep or k == self.active}, self.active)

    # ------------------------------------------------------------------ sealing
    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        kid = bytes.fromhex(self.active)
        return MAGIC + kid + nonce + self._aead[self.active].encrypt(nonce, plaintext, MAGIC + kid + aad)

    def reseal(self, sealed: bytes, aad: str, old: KeyRing) -> bytes | None:
        """``sealed`` (opened with ``old``) sealed again under this ring's active key, or None when it already is:
        one step of key rotation."""
        if self.key_of(sealed) == self.active:
            return None
        return self.seal(old.open(sealed, aad.encode()), aad.encode())

    def key_of(self, sealed: bytes) -> str:
        if not sealed.startswith(MAGIC) or len(sealed) < 3 + 8 + 12 + 16:
            raise DecryptError("not a sealed value")
        return sealed[3:11].hex()

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        kid = self.key_of(sealed)
        aead = self._aead.get(kid)
        if aead is None:
            raise KeyError_(f"value sealed with key {kid}, which is not in the key ring")
        try:
            return aead.decrypt(sealed[11:23], sealed[23:], MAGIC + sealed[3:11] + aad)
        except InvalidTag:
            raise DecryptError("sealed value failed authentication (tampered, or moved from another field)") from None

    def seal_text(self, text: str, aad: str) -> bytes:
        return self.seal(text.encode("utf-8"), aad.encode("utf-8"))

    def open_text(self, sealed: bytes, aad: str) -> str:
        return self.open(sealed, aad.encode("utf-8")).decode("utf-8")

    def seal_json(self, value: object, aad: str) -> bytes:
        return self.seal_text(json.dumps(value, separators=(",", ":"), sort_keys=True), aad)

    def open_json(self, sealed: bytes, aad: str) -> object:
        return json.loads(self.open_text(sealed, aad))
