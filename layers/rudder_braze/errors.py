"""The package's own errors: every bad input ends in one of these, never in a stray exception."""


class EventError(ValueError):
    """An event that cannot be turned into Braze requests. ``path`` is a JSON path inside the event."""

    def __init__(self, reason: str, path: str = "$", status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.status = status


class InputError(ValueError):
    """A request body or file that cannot be read as RudderStack events at all; ``path`` is where in the body."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(reason)
        self.path = path
