"""Errors raised for bad user input.

Every error a user can cause (a wrong name, a missing file, a nonsense
hyperparameter) is a :class:`UserError`. The command line prints its message as
one line and exits non-zero; library callers can catch it like any
``ValueError``.
"""

__all__ = ["UserError", "CheckpointError", "DataError", "ModelError", "ConfigError", "StaleResultsError"]


class UserError(ValueError):
    """Bad input from the user; the message is one line that says what to do."""


class CheckpointError(UserError):
    """A checkpoint file is missing, unreadable, or does not fit the model."""


class DataError(UserError):
    """A data set name, file or root is unusable."""


class ModelError(UserError):
    """A model name or model builder is unusable."""


class ConfigError(UserError):
    """A hyperparameter or a combination of flags makes no sense."""


class StaleResultsError(UserError):
    """The output directory holds results of other inputs (use another directory or overwrite)."""
