"""Make moto's Lambda run our real handlers in-process.

One patch of `moto.awslambda.models.LambdaFunction.invoke` serves SDK `Invoke` and Step Functions
Lambda tasks (moto's ASL interpreter calls Lambda through the server at MOTO_PORT). A raised exception
becomes Lambda's unhandled-error payload plus the `X-Amz-Function-Error: Unhandled` header, so Step
Functions sees the exception class name as `Error` for Retry and Catch, exactly as in AWS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import JsonRESTError

from infra.local.invoker import THROTTLE_KINDS, InjectedThrottle, Invoker

log = logging.getLogger("infra.local.lambda")

_original_invoke = LambdaFunction.invoke
_active: Invoker | None = None
_lock = threading.Lock()


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Lambda's unhandled-error shape for the Python runtime."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class LambdaRefused(JsonRESTError):
    """The Lambda API's own error reply (not the function's): moto's server answers it with its status."""

    def __init__(self, throttle: InjectedThrottle) -> None:
        error_type, status = THROTTLE_KINDS[throttle.kind]
        super().__init__(error_type, str(throttle))
        self.code = status


def _run(invoker: Invoker, name: str, event: Any) -> tuple[bytes, bool]:
    try:
        result = invoker.invoke(name, event, source="lambda")
    except InjectedThrottle:
        raise  # not the function's error: the Invoke call itself fails (see _invoke)
    except Exception as exc:
        return json.dumps(error_payload(exc)).encode(), True
    try:
        return json.dumps(result).encode(), False
    except (TypeError, ValueError) as exc:  # what Lambda answers for a reply it cannot serialise
        payload = {"errorMessage": str(exc), "errorType": "Runtime.MarshalError", "requestId": ""}
        return json.dumps(payload).encode(), True


def _invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    invoker = _active
    if invoker is None or not invoker.knows(self.function_name):
        return _original_invoke(self, body, request_headers, response_headers)
    event = json.loads(body) if body else {}
    invocation_type = request_headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        # Asynchronous: answer 202 now and run the handler on its own thread, as Lambda does.
        def background() -> None:
            for attempt in range(20):  # Lambda's async queue retries a throttled event for up to 6 hours
                try:
                    _, failed = _run(invoker, self.function_name, event)
                    break
                except InjectedThrottle:
                    time.sleep(min(0.1 * 2**attempt, 2.0))
            else:
                log.error("async invocation of %s throttled 20 times in a row; dropped", self.function_name)
                return
            if failed:
                log.warning("async invocation of %s failed", self.function_name)

        threading.Thread(target=background, name=f"lambda-{self.function_name}", daemon=True).start()
        return b""
    try:
        payload, failed = _run(invoker, self.function_name, event)
    except InjectedThrottle as throttle:
        raise LambdaRefused(throttle) from None  # HTTP 429/500 from the Lambda API -> Lambda.<code> in ASL
    if failed:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


def install(invoker: Invoker) -> None:
    """Route moto Lambda invocations of the declaration's functions to `invoker` (one at a time)."""
    global _active
    with _lock:
        _active = invoker
        LambdaFunction.invoke = _invoke  # type: ignore[method-assign]


def uninstall(invoker: Invoker) -> None:
    global _active
    with _lock:
        if _active is invoker:
            _active = None
            LambdaFunction.invoke = _original_invoke  # type: ignore[method-assign]
