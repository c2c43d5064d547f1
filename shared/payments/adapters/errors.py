"""Why a provider callback was refused. Each reason is its own class with a stable `code`.

Messages never contain keys, signatures or body contents, so they are safe to log.
"""

from __future__ import annotations

from shared.core.errors import DomainError


class CallbackRejected(DomainError):
    """A callback we will not act on; answer non-2xx so a genuine provider retries (a forger gets nothing)."""

    status, code, title = 401, "callback_rejected", "Callback rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class MissingHeader(CallbackRejected):
    """A required header (or a form field that plays that role) is absent or malformed."""

    code = "missing_header"


class UnknownSerial(CallbackRejected):
    """Signed with a certificate / public key serial we do not hold (rotation not yet loaded, or forged)."""

    code = "unknown_serial"


class BadSignature(CallbackRejected):
    code = "bad_signature"


class StaleTimestamp(CallbackRejected):
    """Outside the freshness window: a replay, or a badly skewed clock."""

    code = "stale_timestamp"


class DecryptFailed(CallbackRejected):
    """The AEAD tag did not verify (wrong API v3 key or tampered resource)."""

    code = "decrypt_failed"


class MalformedNotification(CallbackRejected):
    """Authentic but unreadable (not JSON, missing envelope fields, bad amounts)."""

    status, code = 400, "malformed_body"


class WrongMerchant(CallbackRejected):
    """Authentic, but addressed to another merchant / app than the configured one."""

    status, code = 403, "wrong_merchant"


class ProviderError(Exception):
    """A provider API answered with an error or an unverifiable response. Safe to log."""

    def __init__(self, detail: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code
