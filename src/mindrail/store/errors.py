"""The store's errors, in a module of their own so every store module can raise them."""


class ConsentRequired(PermissionError):
    """The conversation has no active consent record (never given, withdrawn, or the conversation was deleted)."""


class NotFound(LookupError):
    pass
