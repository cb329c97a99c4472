"""Errors that services raise and the API turns into 4xx answers with their message as reason.

The classes say what went wrong in domain terms; `status` is the HTTP code
the control API answers with, so the mapping lives in one place.
"""

from __future__ import annotations


class OmnigwError(Exception):
    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Invalid(OmnigwError):
    status = 400


class Unauthenticated(OmnigwError):
    """No, or no valid, credentials; `code` is a bounded metric label."""

    status = 401

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


class Forbidden(OmnigwError):
    status = 403


class NotFound(OmnigwError):
    status = 404


class Conflict(OmnigwError):
    status = 409


class TooManyRequests(OmnigwError):
    status = 429

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Unavailable(OmnigwError):
    status = 503


class UpstreamFailed(OmnigwError):
    """A system omnigw depends on (CGRateS, a webhook) refused or failed the operation."""

    status = 502
