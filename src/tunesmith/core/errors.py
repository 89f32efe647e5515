"""Errors a user can act on.

Every problem caused by input (a file, a key, an endpoint) becomes one
``TunesmithError`` that says what went wrong, where, and how to fix it. The CLI
prints it as one line and exits with code 2; only ``--debug`` shows a traceback.
"""

from __future__ import annotations


class TunesmithError(Exception):
    """A problem with the user's input or environment, with a way out."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.fix = fix

    def render(self) -> str:
        """One line: ``where: what. fix``."""
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text = f"{text.rstrip('.')}. {self.fix}"
        return text


class ConfigError(TunesmithError):
    """The project file (or a config override) is malformed or has an invalid value."""


class DataError(TunesmithError):
    """Input data cannot be used (missing, empty, unreadable)."""


class ModelSourceError(TunesmithError):
    """A model cannot be found, loaded or reached."""


class MissingDependencyError(TunesmithError):
    """An optional dependency is not installed; the message carries the pip line."""


class StageError(TunesmithError):
    """A stage cannot start because what it needs from an earlier stage is missing."""
