"""The exceptions nprec raises for user mistakes.

Every user mistake (a malformed file, an unknown option, a corrupt checkpoint, an unknown
id, a loss that became NaN) raises a subclass of `NprecError` with a one-line message that
names the file, line, option or id at fault. The `nprec` command prints that line as
`nprec: error: ...` and exits with status 2; it never shows a traceback for them.
Programming errors inside nprec are not `NprecError`s and do show a traceback.
"""

from __future__ import annotations


class NprecError(Exception):
    """Base class of every error caused by user input."""


class DataError(NprecError, ValueError):
    """A data file or array is missing, unreadable, malformed or unusable.

    The message names the file and, for a malformed line, the line number
    (`ratings.csv:17: rating 'abc' is not a number`).
    """


class ConfigError(NprecError, ValueError):
    """An unknown model, option or configuration key, or a value out of its range."""


class CheckpointError(NprecError):
    """A checkpoint or run directory is missing, corrupt, foreign or unsafe to load."""


class TrainingError(NprecError):
    """Training cannot go on, e.g. the loss became NaN or infinite (epoch and step named)."""


class UnknownIdError(NprecError, LookupError):
    """A raw user or item id that the model or data set does not know."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""
