"""User-facing errors: one line, naming the key, the value and what is allowed."""

from __future__ import annotations

__all__ = ["ConfigError", "format_value"]


def format_value(value: object) -> str:
    """Render a config value the way a user would type it on the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


class ConfigError(ValueError):
    """A bad configuration value. ``str(err)`` is the one line shown to the user.

    Args:
        key: dotted config key, e.g. ``quantum.n_qubits``.
        value: the offending value.
        allowed: what would have been accepted, e.g. ``must be an integer >= 2``.
    """

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={format_value(value)}: {allowed}")
