"""Errors a user can fix. The command line prints them as one short block, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator


class UserError(Exception):
    """A problem with the user's input (parameters, data files, stored artifacts).

    The message says what is wrong and where; ``hint`` (optional) says what to do.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __reduce__(self):
        # Keeps the hint when the error travels back from a worker process.
        return type(self), (str(self), self.hint)


class ParameterError(UserError, ValueError):
    """A parameter is outside its allowed values; raised before any training starts."""


class DataError(UserError, ValueError):
    """A data file cannot be used as it is (empty, unreadable, non-finite, one class, ...)."""


class ArtifactError(UserError):
    """Artifacts of earlier runs are missing, partial, or do not belong together."""


def causes(error: BaseException | None) -> Iterator[BaseException]:
    """``error``, then what it was raised from or while handling, and so on."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def user_error_in(error: BaseException) -> UserError | None:
    """The :class:`UserError` ``error`` is or was raised from (Kedro wraps load errors)."""
    return next((cause for cause in causes(error) if isinstance(cause, UserError)), None)
