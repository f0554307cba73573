"""The one project exception type.

`MyceliumError` carries a message written for the user (what input, what was expected). The CLI
prints it on one line and exits with code 2, with no traceback; library callers can catch it.
"""


class MyceliumError(Exception):
    """A user-facing error: bad input, a missing file, an unknown name."""

    exit_code = 2
