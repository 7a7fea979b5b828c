"""The store's errors, in a module of their own so every store module can raise them."""


class ConsentRequired(PermissionError):
    """The conversation has no active consent record (never given, withdrawn, or the conversation was deleted)."""


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The record changed since the caller read it (a double submit, or another instance got there first)."""
