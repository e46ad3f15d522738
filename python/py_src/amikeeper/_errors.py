"""The exceptions amikeeper raises: one class per kind of failure, all ``AmikeeperError``."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["AmikeeperError", "AwsError", "ConfigError", "EventError"]

#: ``AwsError.kind`` values whose failures a retry of the same request may fix.
RETRYABLE_KINDS = frozenset({"throttling", "server", "timeout"})


class AmikeeperError(Exception):
    """Base class of every error amikeeper raises.

    ``report`` is the report of the run that failed, when there is one (``lambda_handler``
    raises after a run in which something failed, with that run's report).
    """

    report: Optional[dict[str, Any]]

    def __init__(self, message: str, *, report: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class EventError(AmikeeperError, ValueError):
    """The event is malformed, or of a kind amikeeper does not handle.

    The message says what was received and, for an unknown kind, what is supported.
    """


class ConfigError(AmikeeperError, ValueError):
    """The configuration is malformed or inconsistent, or says nothing about what was asked
    (a sweep without ``[retention]``), or no region is known for a sweep or rollback."""


class AwsError(AmikeeperError):
    """An AWS call failed.

    ``service`` is e.g. ``"ssm"``, ``operation`` e.g. ``"PutParameter"``, ``code`` AWS's
    error code (e.g. ``"ParameterNotFound"``), and ``kind`` one of ``"throttling"``,
    ``"server"``, ``"timeout"``, ``"not_found"`` or ``"client"``.
    """

    service: str
    operation: str
    code: str
    kind: str

    def __init__(
        self,
        message: str,
        *,
        service: str,
        operation: str,
        code: str,
        kind: str,
        report: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(message, report=report)
        self.service = service
        self.operation = operation
        self.code = code
        self.kind = kind

    @property
    def retryable(self) -> bool:
        """Whether a retry of the same request may succeed (throttling, 5xx, timeouts)."""
        return self.kind in RETRYABLE_KINDS


def _rebuild(cls: type[AmikeeperError], args: tuple[Any, ...], state: dict[str, Any]) -> AmikeeperError:
    """Unpickles an error: ``Exception.__init__`` with the message, then the attributes."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
