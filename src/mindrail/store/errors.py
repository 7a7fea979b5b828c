"""The store's errors, in a module of their own so every store module can raise them."""


class ConsentRequired(PermissionError):
    """The conversation has no active consent record (never given, withdrawn, or the conversation was deleted)."""


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The record changed since the caller read it (a double submit, or another instance got there first)."""


class DuplicateTurn(Conflict):
    """A turn with this request's idempotency key is already recorded (the client retried a request whose
    response it never got); ``seq`` is that turn's number."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"a turn with this idempotency key is already recorded as turn {seq}")
        self.seq = seq
