"""Why a partner callback was refused. The handler maps `code` to its reply; nothing here knows HTTP."""

from __future__ import annotations


class CallbackRejected(Exception):
    """A push we will not act on. `code` is stable and machine-readable:

    * ``bad_signature``: the signature does not match (forged, wrong key, or altered in transit);
    * ``malformed``: not the JSON shape the partner documents (or missing/invalid fields);
    * ``unknown_state``: a state code not in our mapping table (store it for inspection, then ack);
    * ``unknown_carrier``: a KDNiao ShipperCode we cannot map to a Kuaidi100 company code;
    * ``unsupported_request_type``: a KDNiao RequestType other than the trace pushes.

    The message never contains keys, salts or signatures.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class SubscriptionFailed(Exception):
    """The partner refused a subscription. `retryable` tells a transient error from a permanent one."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
