"""Partner callbacks (public, form-encoded). They answer the partner's exact body, never problem+json.

Bad signature: rejected with the partner's failure body (non-2xx) and nothing changes. A push we can
verify but not use (unknown state, carrier or tracking number, malformed after a valid signature) is stored
in the ops inbox and acknowledged, so the partner does not retry it for a day. Our own transient trouble
answers a failure body with 500, so the partner retries.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.declaration import route
from shared.core.errors import DomainError
from shared.core.problems import FORM
from shared.logistics.adapters import kdniao, kuaidi100
from shared.logistics.adapters.errors import CallbackRejected

router = Router()  # Powertools leaves __init__ unannotated
logger = logging.getLogger("order24.logistics.notify")
ACCEPTS = (FORM,)  # both partners post forms
# A sign we cannot even compare (hmac.compare_digest raises TypeError on non-ASCII text) is a bad signature.
_UNREADABLE = (CallbackRejected, ValueError, TypeError)


def failure(event: Mapping[str, Any], error: DomainError) -> tuple[int, str, str]:
    """The function's failure format for `http_app`: the partner's own failure body, with the status of `error`."""
    if str(event.get("rawPath") or "").endswith("/kdniao/notify"):
        return error.status, kdniao.CONTENT_TYPE, kdniao.ack_body("", False, error.code)
    return error.status, kuaidi100.CONTENT_TYPE, kuaidi100.failure_body(error.code, str(error.status))


def _form() -> dict[str, str]:
    event = router.current_event
    raw = event.body or ""
    text = base64.b64decode(raw).decode("utf-8") if event.is_base64_encoded else raw
    return {name: values[0] for name, values in parse_qs(text, keep_blank_values=True).items()}


def _store_unusable(partner: str, error: CallbackRejected, raw: str) -> None:
    import hashlib

    from shared.ops import inbox

    ref = f"{partner}:{error.code}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"
    inbox.record(
        "unmatched_tracking",
        ref,
        {"partner": partner, "code": error.code, "detail": error.detail, "body": raw[:20_000]},
        summary=f"{partner} {error.code}",
    )


# POST /logistics/kuaidi100/notify
@route(router, "notifyKuaidi100Tracking", summary="Kuaidi100 tracking push")
def kuaidi100_notify() -> Response[str]:
    from shared.logistics import secrets, service

    form = _form()
    param, sign = form.get("param", ""), form.get("sign", "")
    if not param or not sign:  # unsigned: refused before the secret is even loaded
        return Response(400, kuaidi100.CONTENT_TYPE, kuaidi100.failure_body("签名错误", "400"))
    salt = secrets.config().kuaidi100_salt.get_secret_value()
    try:
        kuaidi100.verify(param, sign, salt)
    except _UNREADABLE:
        logger.warning("kuaidi100 push rejected: bad signature")
        return Response(400, kuaidi100.CONTENT_TYPE, kuaidi100.failure_body("签名错误", "400"))
    try:
        outcome = service.apply_update(kuaidi100.parse_push(param))
    except CallbackRejected as error:
        _store_unusable("kuaidi100", error, param)
        outcome = f"stored:{error.code}"
    except Exception:  # deliberately broad: any failure of ours is the partner's retry, never a lost push
        logger.exception("kuaidi100 push not applied; the partner will retry")
        return Response(500, kuaidi100.CONTENT_TYPE, kuaidi100.failure_body("稍后重试", "500"))
    logger.info("kuaidi100 push", extra={"outcome": outcome})
    return Response(200, kuaidi100.CONTENT_TYPE, kuaidi100.ACK_BODY)


# POST /logistics/kdniao/notify
@route(router, "notifyKdniaoTracking", summary="KDNiao tracking push")
def kdniao_notify() -> Response[str]:
    from shared.logistics import secrets, service

    form = _form()
    if not form.get("RequestData") or not form.get("DataSign"):  # unsigned: refused before the secret loads
        return Response(400, kdniao.CONTENT_TYPE, kdniao.ack_body("", False, "missing DataSign"))
    config = secrets.config()
    business_id = config.kdniao_business_id
    request_data = form.get("RequestData", "")
    try:
        kdniao.verify(request_data, form.get("DataSign", ""), config.kdniao_app_key.get_secret_value())
    except _UNREADABLE:
        logger.warning("kdniao push rejected: bad signature")
        return Response(400, kdniao.CONTENT_TYPE, kdniao.ack_body(business_id, False, "bad signature"))
    try:
        updates = kdniao.parse_push(request_data, form.get("RequestType", ""))
        outcomes = [service.apply_update(update) for update in updates]
    except CallbackRejected as error:
        _store_unusable("kdniao", error, request_data)
        outcomes = [f"stored:{error.code}"]
    except Exception:  # deliberately broad: any failure of ours is the partner's retry, never a lost push
        logger.exception("kdniao push not applied; the partner will retry")
        return Response(500, kdniao.CONTENT_TYPE, kdniao.ack_body(business_id, False, "retry later"))
    logger.info("kdniao push", extra={"outcomes": outcomes})
    return Response(200, kdniao.CONTENT_TYPE, kdniao.ack_body(business_id))
