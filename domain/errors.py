"""The pipeline's exception tree. Branches match what the caller must do.

    PipelineError
    ├── ConfigError                      bad configuration: fail at start-up
    ├── CodecError                       a message does not match its schema
    ├── SourceError                      an inbound event we cannot take
    │   ├── SignatureError               → HTTP 401, nothing on a topic
    │   ├── PayloadError                 → HTTP 400 at the gateway, dead letter in the worker
    │   ├── IgnoredEvent                 a valid event that triggers nothing (ping, other status)
    │   └── FetchError(retriable)        fetching a thin event's document failed
    └── SinkError
        ├── RetriableSinkError(retry_after)   429, 5xx, timeouts, connection errors
        └── FatalSinkError                    not retried: parked with the target's message
            ├── AuthError                     401/403
            └── InvoiceRejected               other 4xx, validation errors
"""
from __future__ import annotations

__all__ = [
    "PipelineError",
    "ConfigError",
    "CodecError",
    "SourceError",
    "SignatureError",
    "PayloadError",
    "IgnoredEvent",
    "FetchError",
    "SinkError",
    "RetriableSinkError",
    "FatalSinkError",
    "AuthError",
    "InvoiceRejected",
]


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """Configuration is missing or invalid."""


class CodecError(PipelineError):
    """A message could not be encoded or decoded with its Avro schema."""


class SourceError(PipelineError):
    """An inbound platform event could not be taken."""


class SignatureError(SourceError):
    """The request is not authentic (bad or missing signature, stale timestamp, wrong token)."""


class PayloadError(SourceError):
    """The request is authentic but its body cannot be read."""


class IgnoredEvent(SourceError):
    """A valid event that does not trigger invoicing (a ping, a status we do not bill on)."""


class FetchError(SourceError):
    """Fetching the full document of a thin event failed."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class SinkError(PipelineError):
    """Delivering an invoice to a target failed."""


class RetriableSinkError(SinkError):
    """Try again later; *retry_after* seconds when the target said so."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalSinkError(SinkError):
    """Retrying will not help: park the invoice with the target's message."""


class AuthError(FatalSinkError):
    """The target refused our credentials (401/403 after a token refresh)."""


class InvoiceRejected(FatalSinkError):
    """The target rejected the invoice as invalid (4xx validation error)."""
