"""The local API Gateway (HTTP API): HTTP request -> payload 2.0 event -> handler -> HTTP reply.

Routing follows HTTP API: path templates with `{param}` and greedy `{proxy+}`, the most specific
route wins, and an unknown path or method answers 404. Where AWS answers with its own bodies
(`{"message":"Not Found"}`, `{"message":"Unauthorized"}`, `{"message":"Internal Server Error"}`),
we answer RFC 9457 problem+json with a stable `code`, so clients see one error shape locally.

Limits, as HTTP API's quotas: a body over 10 MB is a 413; a request line and header values over 10,240 bytes
together are a 414 (the request line alone is over) or a 431. API Gateway itself answers those before any
authorizer or function runs, with its own body (not problem+json; see docs/testing.md). Lines past what the
HTTP server parses at all (64 KiB, 100 headers) get the same problem+json from `_QuietHandler.send_error`.
A body whose bytes are not UTF-8 goes to the function base64-encoded whatever its content type, and the
function's screen (shared/core/problems.py) answers 400.

`GET /health` answers 503 problem+json `{"code": "starting", "pending": [...]}` until the runtime has set up
what a client needs (the demo users and catalog, stack.json), then the function's own 200.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from infra.declaration import Route
from infra.local.jwt_auth import CognitoJwtAuthorizer, Unauthorized

log = logging.getLogger("infra.local.gateway")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_LINE_AND_HEADERS = 10_240  # HTTP API: "total combined size of request line and header values"
ACCOUNT_ID = "123456789012"
API_ID = "local"
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "+json", "+xml")


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code, **extra}
    return Response(json.dumps(body), status=status, content_type="application/problem+json")


def starting(pending: list[str]) -> Response:
    """`GET /health` while the runtime is still seeding: 503, with what it is still waiting for."""
    reply = problem(503, "Service Unavailable", f"the local runtime is starting; pending: {', '.join(pending)}",
                    "starting", pending=pending)
    reply.headers["Retry-After"] = "1"
    return reply


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class CompiledRoute:
    method: str
    path: str
    function: str | None  # None: served by the gateway itself (/_local/*)
    auth: str
    segments: tuple[tuple[str, str], ...]  # ("lit", text) | ("param", name) | ("greedy", name)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def specificity(self) -> tuple[int, ...]:
        # Lower sorts first: literal beats {param} beats {proxy+}, segment by segment.
        rank = {"lit": 0, "param": 1, "greedy": 2}
        return (*(rank[kind] for kind, _ in self.segments), -len(self.segments))

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, (kind, text) in enumerate(self.segments):
            if kind == "greedy":
                rest = parts[i:]
                if not rest or not rest[0]:
                    return None
                params[text] = "/".join(rest)
                return params
            if i >= len(parts):
                return None
            if kind == "lit":
                if parts[i] != text:
                    return None
            elif not parts[i]:
                return None
            else:
                params[text] = parts[i]
        return params if len(parts) == len(self.segments) else None


def compile_route(method: str, path: str, function: str | None, auth: str) -> CompiledRoute:
    segments: list[tuple[str, str]] = []
    for seg in path.strip("/").split("/") if path.strip("/") else []:
        if seg.startswith("{") and seg.endswith("+}"):
            segments.append(("greedy", seg[1:-2]))
        elif seg.startswith("{") and seg.endswith("}"):
            segments.append(("param", seg[1:-1]))
        else:
            segments.append(("lit", seg))
    return CompiledRoute(method.upper(), path, function, auth, tuple(segments))


def path_parts(raw_path: str) -> list[str]:
    stripped = raw_path.strip("/")
    return [unquote(p) for p in stripped.split("/")] if stripped else []


def find_route(
    routes: Iterable[CompiledRoute], method: str, raw_path: str
) -> tuple[CompiledRoute, dict[str, str]] | None:
    parts = path_parts(raw_path)
    candidates = []
    for route in routes:
        if route.method not in (method, "ANY"):
            continue
        params = route.match(parts)
        if params is not None:
            candidates.append((route.specificity, route.method == "ANY", route, params))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c[0], c[1]))
    return candidates[0][2], candidates[0][3]


# ---------------------------------------------------------------- events


def is_text(content_type: str | None, body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False  # whatever the type says: such bytes only travel base64-encoded
    if not content_type:
        return True
    ctype = content_type.split(";")[0].strip().lower()
    return any(ctype.startswith(t) or ctype.endswith(t) for t in TEXT_TYPES)


def build_event(
    request: Request,
    body: bytes,
    route: CompiledRoute,
    path_params: dict[str, str],
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    """A payload format 2.0 event, as API Gateway HTTP API builds it."""
    environ = request.environ
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
    raw_path = raw_uri.split("?", 1)[0] or "/"
    raw_query = environ.get("QUERY_STRING", "")

    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers.items():
        lname = name.lower()
        if lname == "cookie":  # 2.0 moves cookies out of the headers into `cookies`
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[lname] = f"{headers[lname]},{value}" if lname in headers else value

    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    now = time.time()
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": headers.get("host", "localhost"),
        "domainPrefix": headers.get("host", "localhost").split(".")[0].split(":")[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": request.remote_addr or "127.0.0.1",
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": base64.b64encode(secrets.token_bytes(10)).decode(),
        "routeKey": route.route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if authorizer is not None:
        context["authorizer"] = authorizer

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    # Like AWS, leave out what the request does not have.
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        if is_text(request.headers.get("content-type"), body):
            event["body"] = body.decode("utf-8")
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def to_response(reply: Any) -> Response:
    """Turn a handler's payload 2.0 reply into HTTP."""
    if not (isinstance(reply, dict) and "statusCode" in reply):
        # 2.0: any other valid JSON is the body of a 200 application/json reply.
        return Response(json.dumps(reply), status=200, content_type="application/json")
    body = reply.get("body") or ""
    data = base64.b64decode(body) if reply.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(data, status=int(reply["statusCode"]))
    response.headers.remove("content-type")
    for name, values in (reply.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for name, value in (reply.get("headers") or {}).items():
        response.headers[name] = str(value)
    for cookie in reply.get("cookies") or []:
        response.headers.add("set-cookie", cookie)
    if "content-type" not in response.headers:
        response.headers["content-type"] = "application/json"
    return response


# ---------------------------------------------------------------- server


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per request is noise here
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a line over 64 KiB, over 100 headers, bad syntax) as problem+json."""
        status = HTTPStatus(code)
        name = {414: "uri_too_long", 431: "headers_too_large"}.get(code, "bad_request" if code < 500 else "http_error")
        body = json.dumps({"type": "about:blank", "title": status.phrase, "status": code,
                           "detail": message or status.description, "code": name}).encode()
        self.close_connection = True
        self.send_response(code, status.phrase)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)


class Gateway:
    """The WSGI app and its threaded server. `invoke(function, event)` calls the handler."""

    def __init__(
        self,
        *,
        routes: dict[str, str],
        route_auth: dict[str, str],
        local_routes: Iterable[Route],
        invoke: Callable[[str, dict[str, Any]], Any],
        authorizer: CognitoJwtAuthorizer | None,
        stats: Callable[[], dict[str, Any]],
        pending: Callable[[], list[str]] = list,
    ) -> None:
        compiled = []
        for key, function in routes.items():
            method, path = key.split(" ", 1)
            compiled.append(compile_route(method, path, function, route_auth.get(key, "jwt")))
        for r in local_routes:
            compiled.append(compile_route(r.method, r.path, r.function, r.auth))
        compiled.append(compile_route("GET", "/_local/stats", None, "public"))
        self.routes = compiled
        self.invoke = invoke
        self.authorizer = authorizer
        self.extra_stats = stats
        self.pending = pending  # what the runtime still sets up; `GET /health` is 503 until it is empty
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests)}

    def _count(self, key: str) -> None:
        with self._lock:
            self.requests[key] += 1

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
        raw_path = raw_uri.split("?", 1)[0] or "/"
        request.max_content_length = MAX_BODY_BYTES
        try:
            body = request.get_data(cache=True)
        except RequestEntityTooLarge:
            self._count("413")
            _drain(request)
            return problem(413, "Payload Too Large", "the request body exceeds 10 MB", "payload_too_large")
        # After reading the body, so the client gets this answer rather than a reset connection.
        line = len(request.method) + len(raw_uri) + len(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")) + 2
        if line > MAX_LINE_AND_HEADERS:
            self._count("414")
            return problem(414, "URI Too Long", f"the request line exceeds {MAX_LINE_AND_HEADERS} bytes",
                           "uri_too_long")
        if line + sum(len(value) for value in request.headers.values()) > MAX_LINE_AND_HEADERS:
            self._count("431")
            return problem(431, "Request Header Fields Too Large",
                           f"the request line and header values exceed {MAX_LINE_AND_HEADERS} bytes",
                           "headers_too_large")
        found = find_route(self.routes, request.method, raw_path)
        if found is None:
            self._count("404")
            return problem(404, "Not Found", f"no route for {request.method} {raw_path}", "route_not_found")
        route, params = found
        self._count(route.route_key)
        if route.route_key == "GET /health" and (waiting := self.pending()):
            return starting(waiting)
        if route.function is None:
            return Response(json.dumps(self.extra_stats()), content_type="application/json")

        authorizer_ctx = None
        if route.auth == "jwt":
            if self.authorizer is None:
                return problem(401, "Unauthorized", "no authorizer configured", "unauthorized")
            try:
                claims, scopes = self.authorizer.authorize(request.headers.get("authorization"))
            except Unauthorized as exc:
                return problem(401, "Unauthorized", str(exc), "unauthorized")
            authorizer_ctx = {"jwt": {"claims": claims, "scopes": scopes}}

        try:
            event = build_event(request, body, route, params, authorizer_ctx)
            reply = self.invoke(route.function, event)
            return to_response(reply)
        except Exception:
            # A handler must turn bad input into 4xx; reaching here is a bug, so shout.
            log.exception("handler %s failed on %s", route.function, route.route_key)
            return problem(500, "Internal Server Error", "the handler failed; see the server log",
                           "internal_error")

    # -- lifecycle

    def serve(self, host: str, port: int) -> int:
        self._server = make_server(host, port, self, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return int(self._server.server_port)

    def stop(self) -> None:
        """Idempotent: a runtime quiesced before it stops calls it twice."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _drain(request: Request, cap: int = 8 * MAX_BODY_BYTES) -> None:
    """Read and drop an oversized body, so the client gets our 413 instead of a reset connection."""
    stream = request.environ.get("wsgi.input")
    length = request.content_length or 0
    if stream is None or length > cap:
        return
    while length > 0:
        chunk = stream.read(min(length, 1 << 20))
        if not chunk:
            break
        length -= len(chunk)
