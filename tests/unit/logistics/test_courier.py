"""Subscribing to parcel pushes: the real Kuaidi100 subscriber over an injected client, and the sandbox."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from shared.logistics.adapters.courier import Kuaidi100Subscriber, TrackingSubscriber
from shared.logistics.adapters.errors import SubscriptionFailed
from shared.logistics.adapters.http import PartnerRequest, PartnerResponse
from shared.sandbox.courier import SandboxSubscriber


class FakeClient:
    def __init__(self, response: PartnerResponse) -> None:
        self.response = response
        self.sent: list[PartnerRequest] = []

    def send(self, request: PartnerRequest) -> PartnerResponse:
        self.sent.append(request)
        return self.response


def _ok(body: dict[str, object]) -> PartnerResponse:
    return PartnerResponse(200, json.dumps(body, ensure_ascii=False).encode("utf-8"))


def test_kuaidi100_subscriber_posts_one_poll_request_with_our_salt() -> None:
    client = FakeClient(_ok({"result": True, "returnCode": "200", "message": "提交成功"}))
    subscriber: TrackingSubscriber = Kuaidi100Subscriber(client, key="K", salt="S")

    subscriber.subscribe("yuantong", "YT1", "https://cb.example/k100")

    [request] = client.sent
    param = json.loads(parse_qs(request.body.decode("ascii"))["param"][0])
    assert (param["company"], param["number"], param["key"]) == ("yuantong", "YT1", "K")
    assert param["parameters"]["salt"] == "S"


def test_a_repeat_subscription_answered_501_is_fine() -> None:
    client = FakeClient(_ok({"result": False, "returnCode": "501", "message": "重复订阅"}))
    Kuaidi100Subscriber(client, key="K", salt="S").subscribe("yuantong", "YT1", "https://cb")


def test_a_refused_subscription_raises_with_the_partner_code() -> None:
    client = FakeClient(_ok({"result": False, "returnCode": "701", "message": "拒绝订阅的快递公司"}))
    with pytest.raises(SubscriptionFailed) as caught:
        Kuaidi100Subscriber(client, key="K", salt="S").subscribe("nope", "1", "https://cb")
    assert (caught.value.code, caught.value.retryable) == ("701", False)


def test_an_http_5xx_is_retryable() -> None:
    client = FakeClient(PartnerResponse(503, b""))
    with pytest.raises(SubscriptionFailed) as caught:
        Kuaidi100Subscriber(client, key="K", salt="S").subscribe("yuantong", "1", "https://cb")
    assert caught.value.retryable is True


def test_sandbox_subscriber_remembers_each_parcel_once() -> None:
    sandbox = SandboxSubscriber()
    sandbox.subscribe("YuanTong", "YT1", "http://127.0.0.1/cb")
    sandbox.subscribe("yuantong", "YT1", "http://127.0.0.1/cb")

    assert len(sandbox.subscriptions) == 1
    found = sandbox.find("YT1")
    assert found is not None and found.carrier == "yuantong"
    assert sandbox.find("nope") is None
