"""One small error hierarchy: the consumer loop retries one kind and dead-letters the other."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of the errors a handler raises on purpose."""


class RetryableError(PipelineError):
    """A transient failure (a dependency down, a timeout): retry with backoff."""


class PoisonMessageError(PipelineError):
    """The message itself can never be handled: dead-letter it and move on."""


class ApiError(Exception):
    """An HTTP error with a machine code; rendered in the one JSON error shape."""

    def __init__(
        self, status_code: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers or {}
