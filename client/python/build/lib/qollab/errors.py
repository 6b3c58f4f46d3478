"""Errors: the server's ``{"error": {code, message, details}}`` as Python exceptions."""

from __future__ import annotations

from typing import Any, Mapping


class QollabError(Exception):
    """An error answered by a Qollab server (or a failure to reach it).

    ``code`` is the server's error code (``invalid_qasm``, ``not_found``,
    ``quota_exceeded``, …; ``connection_error`` when the server could not be reached),
    ``status`` the HTTP status (0 without a response), ``message`` the server's
    message and ``details`` its details object (for OpenQASM errors ``line``, ``col``
    and ``message``).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int = 0,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.details: dict[str, Any] = dict(details or {})
        line, col = self.line, self.col
        if line is not None and col is not None and f"{line}:{col}" not in message:
            message = f"line {line}:{col}: {message}"
        self.message = message
        super().__init__(self._render())

    @property
    def line(self) -> int | None:
        """The 1-based line of an OpenQASM error, when there is one."""
        v = self.details.get("line")
        return v if isinstance(v, int) else None

    @property
    def col(self) -> int | None:
        """The 1-based column of an OpenQASM error, when there is one."""
        v = self.details.get("col")
        return v if isinstance(v, int) else None

    def _render(self) -> str:
        text = self.message
        suffix = f" ({self.code}" + (f", HTTP {self.status}" if self.status else "") + ")"
        return text + suffix

    @classmethod
    def from_response(cls, status: int, body: Any, fallback: str = "") -> "QollabError":
        """Builds the error from a response body (the error envelope, or anything else)."""
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            details = err.get("details")
            return cls(
                str(err.get("message") or fallback or f"HTTP {status}"),
                code=str(err.get("code") or "error"),
                status=status,
                details=details if isinstance(details, dict) else None,
            )
        text = body if isinstance(body, str) else fallback
        return cls(text.strip() or f"HTTP {status}", code="http_error", status=status)


class QollabJobError(QollabError):
    """A job that failed or was cancelled has no result."""

    def __init__(self, message: str, *, job_id: str, status_name: str) -> None:
        self.job_id = job_id
        self.status_name = status_name
        super().__init__(message, code=f"job_{status_name}")
