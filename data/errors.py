"""The one project exception type.

`MyceliumError` carries a message written for the user (what input, what was expected). The CLI
prints it on one line and exits with code 2, with no traceback; library callers can catch it.
"""


class MyceliumError(Exception):
    """A user-facing error: bad input, a missing file, an unknown name."""

    exit_code = 2


class Dropped(Exception):
    """A problem dropped by a stage, with a snake_case `reason` that the stage counts (a label
    that cannot be built or does not validate; a MATH problem the structure parser cannot read)
    and a free-text `detail`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
