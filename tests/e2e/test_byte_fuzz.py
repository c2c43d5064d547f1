"""Byte-level fuzz of every route over raw HTTP: methods, headers, content types, bodies and cursors.

schemathesis (test_fuzz.py) sends well-formed requests; this sends what an outsider can: invalid UTF-8,
truncated JSON, huge numbers, deep nesting, NUL bytes, absurd header values (the WeChat Pay v3
`Wechatpay-*` headers included), content types no route accepts, cursors we never issued (and ones we
issued for another list or caller), unknown methods, oversized headers and URIs. Every route in the
running stack's `GET /openapi.json` and the four partner callbacks get cases, with a valid token of each
role and with none. http.client sends the bytes as given (requests would re-encode).

Every answer must be below 500. JSON API errors must be application/problem+json with a `code`; partner
callbacks must answer their partner's own failure format with a 4xx. After the run no state has moved that
the answers do not explain: the watched SKU's stock is conserved, and every new order of the shopper is one
the fuzzer was answered 202 for.

Cases: env BYTE_FUZZ_CASES (default 1,500, about a minute; `make soak` runs 20,000). Seed: BYTE_FUZZ_SEED.
Summary per route in build/test-results/byte_fuzz.txt.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.e2e.helpers import HOLDING, SOLD, Stack, env_int, report_result

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CASES = env_int("BYTE_FUZZ_CASES", 1500)
SEED = env_int("BYTE_FUZZ_SEED", 24)
ROLES = (None, "shopper", "merchant", "reviewer", "ops")
PARTNERS = {
    "/payments/wechatpay/notify": "wechatpay",
    "/payments/alipay/notify": "alipay",
    "/logistics/kuaidi100/notify": "kuaidi100",
    "/logistics/kdniao/notify": "kdniao",
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO", "get")
CONTENT_TYPES: tuple[bytes | None, ...] = (
    None, b"application/json", b"application/json; charset=utf-8", b"application/json; charset=latin-1",
    b"application/problem+json", b"text/plain", b"text/html", b"application/xml",
    b"application/x-www-form-urlencoded", b"multipart/form-data", b"multipart/form-data; boundary=x",
    b"application/octet-stream", b"image/png", b"", b"*/*", b";;;", b"application/json\x00",
    b"\xff\xfe", b"application/" + b"j" * 3000, b"APPLICATION/JSON",
)
HUGE_INT = "9" * 5000


@dataclass
class Case:
    method: str
    target: str  # path + query, already percent-encoded where needed
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: str
    note: str


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    accepted_orders: set[str] = field(default_factory=set)
    cursors: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        if len(self.failures) < 60:
            self.failures.append(text)


# ---------------------------------------------------------------- mutations


def seed_body(method: str, path: str, sku: str, rng: random.Random) -> Any:
    """A plausible JSON body for the route, which the mutators then damage."""
    if method != "POST" and method != "PUT":
        return None
    if path == "/orders":
        return {"items": [{"sku": sku, "quantity": 1}], "target": "https://shop.example.com/s/1"}
    if path == "/merchant/skus":
        return {"sku": f"FZ-{uuid.uuid4().hex[:8].upper()}", "title": "Fuzz item", "category": "promotion",
                "kind": "digital", "price_fen": 100, "currency": "CNY", "stock": 1}
    if path == "/merchant/skus/{sku}":
        return {"title": "Fuzz item", "category": "promotion", "kind": "digital", "price_fen": 100,
                "currency": "CNY"}
    if path == "/merchant/skus/{sku}/stock":
        return {"stock": rng.choice([0, 1, 5])}
    if path.endswith("/pay"):
        return {"provider": rng.choice(["wechatpay", "alipay", "card", "x"])}
    if path.endswith("/reject"):
        return {"reason": "fuzz"}
    if path == "/me/notifications/read":
        return {"up_to": "2026-01-01T00:00:00Z"}
    return {}


def _deep(depth: int, kind: str) -> bytes:
    return (b"[" * depth + b"]" * depth) if kind == "list" else (b'{"a":' * depth + b"1" + b"}" * depth)


def mutate_json(value: Any, rng: random.Random) -> tuple[bytes, str]:
    text = json.dumps(value, ensure_ascii=False).encode() if value is not None else b""
    choice = rng.randrange(22)
    if choice == 0:
        return text, "valid"
    if choice == 1:
        return text[: max(1, rng.randrange(max(len(text), 1)))], "truncated json"
    if choice == 2:
        return b"\xff\xfe\xfa" + text + b"\xc3\x28", "invalid utf-8"
    if choice == 3:
        return text.replace(b'"', b'"\x00', 2), "NUL bytes"
    if choice == 4:
        return (json.dumps(value).replace("1", HUGE_INT, 1).encode() if value else HUGE_INT.encode()), "huge int"
    if choice == 5:
        return b'{"stock": 1e999, "quantity": -1e999, "price_fen": NaN}', "huge float"
    if choice == 6:
        return _deep(rng.choice([100, 1000, 5000, 100_000]), rng.choice(["list", "dict"])), "deep nesting"
    if choice == 7:
        return rng.choice([b"null", b"[]", b"\"x\"", b"1", b"true", b"{}", b" "]), "scalar json"
    if choice == 8:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))), "random bytes"
    if choice == 9:
        return b"a=1&b=%FF%FE&c=\x00&sign=%%%", "form junk"
    if choice == 10:
        return b'{"items": [{"sku": "\\ud800", "quantity": 1}]}', "lone surrogate"
    if choice == 11:
        return b"\xef\xbb\xbf" + text, "utf-8 bom"
    if choice == 12:
        return text.decode("utf-8", "replace").encode("utf-16"), "utf-16"
    if choice == 13:
        return b'{"a":1,"a":2,' + b'"k":"' + b"x" * 17000 + b'"}', "oversized"
    if choice == 14:
        return b'{"items": "' + b"\\u0000" * 50 + b'"}', "escaped NULs"
    if choice == 15:
        return b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n", "multipart"
    if choice == 16:
        return b"\x80" * 30, "lone continuation bytes"
    if choice == 17:
        return text + b"\x00" * 10, "trailing NULs"
    if choice == 18:
        return b'{"items":[{"sku":1e400,"quantity":' + HUGE_INT.encode() + b"}]}", "huge numbers in fields"
    if choice == 19:
        return json.dumps({"items": [value] * 5} if value else {}).encode(), "wrong shape"
    if choice == 20:
        return b"", "empty"
    return text.replace(b"1", b"-1", 1), "negative"


def junk_cursor(rng: random.Random, issued: list[str]) -> str:
    import base64

    choice = rng.randrange(10)
    if choice <= 2 and issued:
        cursor = rng.choice(issued)  # issued for some list and caller: maybe not this one
        if choice == 2 and len(cursor) > 4:
            i = rng.randrange(len(cursor))
            cursor = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1:]
        return cursor
    forged = {"PK": {"S": "ORDER#x"}, "SK": {"S": "ORDER"}, "GSI1PK": {"S": "SHOPPER#x"}, "GSI1SK": {"S": "1"}}
    options = [
        base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(json.dumps({"PK": {"S": "x" * 3000}}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"GSI3SK": {"N": "1"}}).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "%FF%FE", "%00", "!!!", "a" * 2100, "e30", "W10", "bnVsbA", "eyJQSyI6eyJTIjoiIn19",
    ]
    return rng.choice(options)


def junk_header_value(rng: random.Random) -> bytes:
    return rng.choice([
        b"", b" ", b"\x00", b"\xff\xfe", b"x" * 9000, b"-1", b"1e400", HUGE_INT.encode(), b"NaN",
        "订单".encode(), "订单".encode("gbk"), b"\t\t", b"Bearer", b"Bearer \xff", b"1700000000.5",
        b"0x10", b"99999999999999999999", b"../../etc/passwd", b"%00", b"'\"<>",
    ])


def wechat_headers(rng: random.Random) -> list[tuple[bytes, bytes]]:
    base = {b"Wechatpay-Timestamp": str(int(time.time())).encode(), b"Wechatpay-Nonce": b"n" * 32,
            b"Wechatpay-Signature": b"c2lnbmF0dXJl", b"Wechatpay-Serial": b"5157F09EFDC096DE15EBE81A47057A72"}
    for name in list(base):
        if rng.random() < 0.5:
            base[name] = junk_header_value(rng)
        elif rng.random() < 0.1:
            del base[name]
    return list(base.items())


def partner_body(partner: str, rng: random.Random) -> tuple[bytes, bytes | None, str]:
    form = b"application/x-www-form-urlencoded"
    if partner == "wechatpay":
        resource = {"algorithm": rng.choice(["AEAD_AES_256_GCM", "x"]),
                    "ciphertext": rng.choice(["", "!!", "A" * 64]), "nonce": "n" * rng.choice([0, 12, 400]),
                    "associated_data": "transaction"}
        value = {"id": "x", "create_time": "2026-01-01T00:00:00+08:00", "event_type": "TRANSACTION.SUCCESS",
                 "resource_type": "encrypt-resource", "resource": resource}
        body, note = mutate_json(value, rng)
        return body, b"application/json", f"wechat {note}"
    if partner == "alipay":
        fields = [b"notify_time=" + rng.choice([b"2026-01-01+00%3A00%3A00", b"junk", b"%FF", b"9999-99-99"]),
                  b"sign=" + rng.choice([b"c2ln", b"%%%", b"\xff", b"A" * 5000, b""]),
                  b"sign_type=" + rng.choice([b"RSA2", b"RSA", b"\x00"]),
                  b"total_amount=" + rng.choice([b"1.00", b"1e400", HUGE_INT.encode(), b"-1", b"NaN"]),
                  b"trade_status=" + rng.choice([b"TRADE_SUCCESS", b"X"]),
                  b"out_trade_no=" + rng.choice([b"x", b"%00", b"x" * 3000])]
        rng.shuffle(fields)
        return b"&".join(fields[: rng.randrange(1, len(fields) + 1)]), form, "alipay form"
    if partner == "kuaidi100":
        param = rng.choice([b"{}", b"%FF%FE", b"not json", b'{"lastResult":' + HUGE_INT.encode() + b"}",
                            b"%7B%22a%22%3A" + b"%5B" * 3000])
        sign = rng.choice([b"", b"ABC", b"%00", b"\xff" * 32, b"0" * 32])
        return b"param=" + param + b"&sign=" + sign, form, "kuaidi100 form"
    data = rng.choice([b"{}", b"%FF", b"[[[[", b'{"Data":' + HUGE_INT.encode() + b"}"])
    sign = rng.choice([b"", b"!!", b"%FF%FE", b"YWJj", b"\x00"])
    rtype = rng.choice([b"101", b"102", b"", b"\xff", b"9" * 400])
    return b"RequestData=" + data + b"&DataSign=" + sign + b"&RequestType=" + rtype, form, "kdniao form"


def fill_path(template: str, values: dict[str, list[str]], rng: random.Random) -> str:
    out = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1]
            if rng.random() < 0.6 and values.get(name):
                value = rng.choice(values[name])
            else:
                value = rng.choice(["x" * 3000, "\x00", "%FF", "订单", "..", "a b", "\ud800", "' OR 1=1",
                                    "0" * 26, "-1", "ORDER#x", "#", "x" * 1025])
            out.append(quote(value.encode("utf-8", "surrogatepass"), safe=""))
        else:
            out.append(segment)
    return "/" + "/".join(out)


def build_case(method: str, path: str, stack: Stack, values: dict[str, list[str]], tally: Tally,
               sku: str, rng: random.Random, query_params: list[str]) -> Case:
    partner = PARTNERS.get(path)
    route = f"{method} {path}"  # tallied under the declared route, whatever method this case sends
    notes = []
    target = fill_path(path, values, rng)
    if rng.random() < 0.1:
        method = rng.choice(METHODS)
        notes.append(f"method {method}")
    query: list[str] = []
    for name in query_params:
        if rng.random() < 0.6:
            if name == "cursor":
                query.append("cursor=" + quote(junk_cursor(rng, tally.cursors), safe="%"))
                notes.append("cursor")
            else:
                query.append(f"{name}=" + quote(rng.choice(["", "%FF", "%00", "x" * 3000, "2026-13-45",
                                                             "2026-01-01", "promotion", "订单", "%E8%AE"]),
                                                  safe="%"))
    if rng.random() < 0.1:
        query.append(rng.choice(["a=%FF", "=", "&&&", "cursor=1&cursor=2", "q=" + "%00" * 10, "x"]))
    if query:
        target += "?" + "&".join(query)
    headers: list[tuple[bytes, bytes]] = []
    role = rng.choice(ROLES)
    if role:
        headers.append((b"Authorization", f"Bearer {stack.token(role)}".encode()))
    elif rng.random() < 0.2:
        headers.append((b"Authorization", junk_header_value(rng)))
    if partner:
        body, content_type, note = partner_body(partner, rng)
        notes.append(note)
        if partner == "wechatpay":
            headers += wechat_headers(rng)
        if rng.random() < 0.25:
            content_type = rng.choice(CONTENT_TYPES)
            body, note = (body, "") if rng.random() < 0.5 else mutate_json(None, rng)
    else:
        body, note = mutate_json(seed_body(method.upper(), path, sku, rng), rng)
        notes.append(note)
        content_type = b"application/json" if rng.random() < 0.5 else rng.choice(CONTENT_TYPES)
    if content_type is not None:
        headers.append((b"Content-Type", content_type))
    if method.upper() == "POST" and path == "/orders" and rng.random() < 0.7:
        headers.append((b"Idempotency-Key", str(uuid.uuid4()).encode() if rng.random() < 0.7
                        else junk_header_value(rng)))
    if rng.random() < 0.3:
        name = rng.choice([b"X-Device-Id", b"Idempotency-Key", b"Accept", b"Accept-Charset", b"X-Forwarded-For",
                           b"Cookie", b"Content-Encoding", b"Wechatpay-Timestamp", b"Origin", b"X-Amzn-Trace-Id"])
        headers.append((name, junk_header_value(rng)))
        notes.append(f"header {name.decode()}")
    if rng.random() < 0.02:
        headers.append((b"X-Big", b"y" * rng.choice([11_000, 70_000])))
        notes.append("oversized header")
    if rng.random() < 0.02:
        target += ("&" if "?" in target else "?") + "pad=" + "z" * rng.choice([11_000, 70_000])
        notes.append("oversized uri")
    return Case(method, target, headers, body, route, ", ".join(n for n in notes if n))


# ---------------------------------------------------------------- sending and judging


def send(api_url: str, case: Case) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(api_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(case.method, case.target, skip_accept_encoding=True)
        for name, value in case.headers:
            conn.putheader(name, value)
        if case.body or case.method.upper() in ("POST", "PUT", "PATCH"):
            conn.putheader(b"Content-Length", str(len(case.body)).encode())
        # The server may answer 414/431 and close before we finish sending: read that answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.endheaders(case.body or None)
        reply = conn.getresponse()
        data = b"" if case.method.upper() == "HEAD" else reply.read()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data
    finally:
        conn.close()


def judge(case: Case, path: str, status: int, headers: dict[str, str], data: bytes) -> str | None:
    """What is wrong with this answer, or None."""
    if status >= 500:
        return f"{status}"
    if status < 400 or case.method.upper() == "HEAD":
        return None
    ctype = headers.get("content-type", "")
    partner = PARTNERS.get(path)
    routed = case.method == case.route.split(" ", 1)[0] and (partner is not None or status not in (401, 404, 405))
    if partner and routed:
        text = data.decode("utf-8", "replace")
        if partner == "wechatpay":
            ok = ctype.startswith("application/json") and json.loads(data or b"{}").get("code") == "FAIL"
        elif partner == "alipay":
            ok = ctype.startswith("text/plain") and text in ("fail", "failure")
        elif partner == "kuaidi100":
            ok = ctype.startswith("application/json") and json.loads(data or b"{}").get("result") is False
        else:
            ok = ctype.startswith("application/json") and json.loads(data or b"{}").get("Success") is False
        if ok:
            return None
        if not ctype.startswith("application/problem+json") or status not in (404, 405, 413, 414, 431):
            return f"{status} not in the partner's format: {ctype} {text[:200]!r}"
    if not ctype.startswith("application/problem+json"):
        return f"{status} {ctype} is not problem+json: {data[:200]!r}"
    try:
        code = json.loads(data).get("code")
    except ValueError:
        return f"{status} problem body is not JSON: {data[:200]!r}"
    return None if code else f"{status} problem without a code: {data[:200]!r}"


# ---------------------------------------------------------------- state before and after


def shopper_orders(stack: Stack) -> dict[str, dict[str, Any]]:
    sub = stack.user("shopper").get("sub")
    ddb = stack.client("dynamodb")
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {"TableName": stack.stack["table_name"], "IndexName": "by_shopper",
                               "KeyConditionExpression": "GSI1PK = :pk",
                               "ExpressionAttributeValues": {":pk": {"S": f"SHOPPER#{sub}"}}}
    while True:
        reply = ddb.query(**request)
        for key in reply.get("Items", []):
            order_id = key["PK"]["S"].split("#", 1)[1]
            found[order_id] = stack.order(order_id)
        if "LastEvaluatedKey" not in reply:
            return found
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def held_units(orders: dict[str, dict[str, Any]], sku: str) -> int:
    return sum(int(line.get("quantity", 0)) for order in orders.values()
               if order.get("status") in (*HOLDING, *SOLD)
               for line in order.get("items", []) if line.get("sku") == sku)


def settle(stack: Stack, timeout_s: float = 60) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        orders = shopper_orders(stack)
        if all(o.get("status") != "PLACED" for o in orders.values()) or time.monotonic() > deadline:
            return orders
        time.sleep(0.5)


def shopper_sub(stack: Stack) -> str:
    import base64

    token = stack.token("shopper")
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def test_no_input_gets_a_5xx_or_moves_state(local_stack: dict[str, Any]) -> None:
    stack = Stack(local_stack)
    rng = random.Random(SEED)
    document = stack.call("GET", "/openapi.json").json()
    operations: list[tuple[str, str, list[str]]] = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
                operations.append((method.upper(), path, params))
    for path in PARTNERS:
        if not any(p == path for _, p, _ in operations):
            operations.append(("POST", path, []))
    operations.sort()

    sub = shopper_sub(stack)
    stack.user("shopper")["sub"] = sub
    watched = stack.new_sku(stock=500)
    fuzz_sku = stack.new_sku(stock=5)
    order_id = stack.place("shopper", watched, physical=False)
    values = {"order_id": [order_id, str(uuid.uuid4())], "sku": [fuzz_sku, "NOPE-1"],
              "kind": ["unmatched_payment", "unmatched_tracking", "x"]}
    before = settle(stack)
    stock_before = stack.available(watched) + held_units(before, watched)

    tally = Tally()
    start = time.monotonic()
    for i in range(CASES):
        method, path, query_params = operations[i % len(operations)]
        case = build_case(method, path, stack, values, tally, watched, rng, query_params)
        tally.cases[case.route] += 1
        try:
            status, headers, data = send(stack.api_url, case)
        except (OSError, http.client.HTTPException) as error:
            tally.statuses[case.route][599] += 1
            tally.fail(f"{case.route} [{case.note}] {case.method} {case.target[:200]}: connection {error!r}")
            continue
        tally.statuses[case.route][status] += 1
        problem = judge(case, path, status, headers, data)
        if problem:
            tally.fail(f"{case.route} [{case.note}] {case.method} {case.target[:200]} "
                       f"ct={dict(case.headers).get(b'Content-Type', b'')[:60]!r} body={case.body[:120]!r}: "
                       f"{problem} {data[:300]!r}")
        if status == 202 and path == "/orders":
            tally.accepted_orders.add(str(json.loads(data)["order_id"]))
        if status == 200 and data[:1] == b"{" and b'"cursor"' in data:
            cursor = json.loads(data).get("cursor")
            if cursor and len(tally.cursors) < 50:
                tally.cursors.append(cursor)
    elapsed = time.monotonic() - start

    after = settle(stack)
    stock_after = stack.available(watched) + held_units(after, watched)
    new_orders = set(after) - set(before)
    unexplained = new_orders - tally.accepted_orders

    fives = {route: sum(n for s, n in counts.items() if s >= 500) for route, counts in tally.statuses.items()}
    lines = [f"byte fuzz: {sum(tally.cases.values())} cases over {len(operations)} routes in {elapsed:.0f} s "
             f"(seed {SEED}), 5xx {sum(fives.values())}, other failures {len(tally.failures)} kept",
             f"state: watched SKU stock {stock_before} -> {stock_after} (available + held); "
             f"{len(new_orders)} new orders, {len(tally.accepted_orders)} answered 202, {len(unexplained)} unexplained",
             f"{'route':<40} {'cases':>6} {'5xx':>4}  statuses"]
    for route in sorted(tally.cases):
        counts = ", ".join(f"{s}={n}" for s, n in sorted(tally.statuses[route].items()))
        lines.append(f"{route:<40} {tally.cases[route]:>6} {fives.get(route, 0):>4}  {counts}")
    lines += ["", *tally.failures[:60]]
    report_result("byte_fuzz", lines)
    assert stock_after == stock_before, "the watched SKU's stock moved without an order that explains it"
    assert not unexplained, f"orders nobody was answered 202 for: {sorted(unexplained)}"
    assert not tally.failures, "\n\n".join(tally.failures[:30])
