"""Encrypted, tamper-evident storage (see store.py, crypto.py, audit.py)."""

from mindrail.store.crypto import DecryptError, KeyRing
from mindrail.store.store import ApiKeyInfo, ConsentRequired, NotFound, Store, TurnInput

__all__ = ["ApiKeyInfo", "ConsentRequired", "DecryptError", "KeyRing", "NotFound", "Store", "TurnInput"]
