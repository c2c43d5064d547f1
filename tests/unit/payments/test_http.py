"""The stdlib HTTP client sends a request as built and never retries (loopback only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.payments.adapters.http import HttpResponse, SignedRequest, TransportError, UrllibHttpClient


class _Echo(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Wechatpay-Nonce", "n1")
        self.send_header("Content-Length", str(len(body) + len(self.path)))
        self.end_headers()
        self.wfile.write(self.path.encode() + body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_request_is_sent_as_built_and_the_answer_returned(server):
    client = UrllibHttpClient(connect_timeout_s=1, read_timeout_s=2)
    response = client.send(SignedRequest("POST", f"{server}/v3/x?a=1", {"Content-Type": "text/plain"}, b"hi"))
    assert response.status == 201
    assert response.body == b"/v3/x?a=1hi"
    assert response.header("wechatpay-nonce") == "n1"
    assert response.ok


def test_read_timeout_raises_transport_error_without_retrying(server):
    _Echo.calls = 0
    client = UrllibHttpClient(connect_timeout_s=1, read_timeout_s=0.2)
    with pytest.raises(TransportError):
        client.send(SignedRequest("POST", f"{server}/slow", {}, b"x"))
    assert _Echo.calls == 1


def test_non_http_urls_are_refused():
    with pytest.raises(ValueError):
        UrllibHttpClient().send(SignedRequest("GET", "file:///etc/passwd", {}))


def test_header_lookup_is_case_insensitive():
    assert HttpResponse(200, {"Wechatpay-Serial": "S"}).header("WECHATPAY-SERIAL") == "S"
