"""The one exception type users see: a one-line message that names the fix."""


class AibenchError(Exception):
    """A user-facing error. ``str(err)`` is printed as one line; no traceback is shown."""
