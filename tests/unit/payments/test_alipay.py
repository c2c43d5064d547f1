"""Alipay OpenAPI (RSA2): sign content rules, outbound requests byte for byte, notification round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote_plus, urlencode

import pytest

from shared.payments.adapters import alipay
from shared.payments.adapters.alipay import AlipayNotification, TradeStatus
from shared.payments.adapters.errors import CallbackRejected, ProviderError
from shared.payments.adapters.http import HttpResponse

from .conftest import rsa_sign, rsa_verify

NOW = datetime(2025, 3, 1, 4, 0, 5, tzinfo=UTC)  # 12:00:05 in Beijing
BEIJING = "2025-03-01 12:00:05"


# ---------------------------------------------------------------- sign content


def test_sign_content_sorts_keys_skips_empty_values_and_never_includes_sign():
    params = {"b": "2", "a": "1", "sign": "XYZ", "empty": "", "sign_type": "RSA2", "c": "中 文&=x"}
    assert alipay.sign_content(params, for_notify=False) == "a=1&b=2&c=中 文&=x&sign_type=RSA2"


def test_notify_sign_content_also_drops_sign_type():
    params = {"b": "2", "a": "1", "sign": "XYZ", "sign_type": "RSA2"}
    assert alipay.sign_content(params, for_notify=True) == "a=1&b=2"


def test_sign_content_orders_by_byte_value_not_by_case_folding():
    assert (
        alipay.sign_content({"b": "1", "B": "2", "a_b": "3", "ab": "4"}, for_notify=True)
        == "B=2&a_b=3&ab=4&b=1"
    )


# ---------------------------------------------------------------- outbound


def test_precreate_request_is_exactly_the_signed_form_post(alipay_config, sandbox_keys):
    # given a 12.34 yuan order
    request = alipay.precreate_request(
        alipay_config, out_trade_no="oabc123def456", subject="order24 订单", amount_fen=1234, now=NOW
    )
    # then the body is exactly the documented common parameters plus biz_content, and sign
    biz = (
        '{"out_trade_no":"oabc123def456","total_amount":"12.34","subject":"order24 订单",'
        '"timeout_express":"15m"}'
    )
    content = (
        f"app_id={alipay_config.app_id}&biz_content={biz}&charset=utf-8&format=JSON"
        f"&method=alipay.trade.precreate&notify_url={alipay_config.notify_url}&sign_type=RSA2"
        f"&timestamp={BEIJING}&version=1.0"
    )
    signature = rsa_sign(content.encode(), sandbox_keys["alipay"]["app_private_key_pem"])
    expected = {
        "app_id": alipay_config.app_id,
        "method": "alipay.trade.precreate",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": BEIJING,
        "version": "1.0",
        "notify_url": alipay_config.notify_url,
        "biz_content": biz,
        "sign": signature,
    }
    assert request.method == "POST"
    assert request.url == "https://openapi.alipay.com/gateway.do?charset=utf-8"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded;charset=utf-8"
    assert request.body == urlencode(expected).encode()
    assert rsa_verify(content.encode(), signature, sandbox_keys["alipay"]["app_public_key_pem"])


def test_app_pay_order_string_is_sorted_url_encoded_and_signed(alipay_config, sandbox_keys):
    order_string = alipay.app_pay_order_string(
        alipay_config, out_trade_no="oabc123def456", subject="订单", amount_fen=1, now=NOW
    )
    pairs = dict(parse_qsl(order_string, keep_blank_values=True))
    assert pairs["method"] == "alipay.trade.app.pay"
    assert json.loads(pairs["biz_content"]) == {
        "out_trade_no": "oabc123def456",
        "total_amount": "0.01",
        "subject": "订单",
        "product_code": "QUICK_MSECURITY_PAY",
        "timeout_express": "30m",
    }
    content = alipay.sign_content(pairs, for_notify=False)
    assert rsa_verify(content.encode(), pairs["sign"], sandbox_keys["alipay"]["app_public_key_pem"])
    expected = "&".join(f"{k}={quote_plus(v)}" for k, v in sorted(pairs.items()))
    assert order_string == expected


def test_refund_request_carries_amount_in_yuan_and_no_notify_url(alipay_config, sandbox_keys):
    request = alipay.refund_request(
        alipay_config,
        out_trade_no="oabc123def456",
        out_request_no="r1",
        refund_fen=500,
        reason="缺货",
        now=NOW,
    )
    form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert form["method"] == "alipay.trade.refund"
    assert "notify_url" not in form
    assert form["biz_content"] == (
        '{"out_trade_no":"oabc123def456","refund_amount":"5.00","out_request_no":"r1","refund_reason":"缺货"}'
    )
    content = alipay.sign_content(form, for_notify=False)
    assert rsa_sign(content.encode(), sandbox_keys["alipay"]["app_private_key_pem"]) == form["sign"]


def test_config_repr_never_shows_the_private_key(alipay_config):
    assert "PRIVATE KEY" not in repr(alipay_config)
    assert "PRIVATE KEY" not in str(alipay_config)


# ---------------------------------------------------------------- inbound notifications


def paid_form(config, keys, **overrides):
    fields = alipay.build_trade_notification(
        config,
        out_trade_no="oabc123def456",
        trade_no="2025030122001",
        amount_fen=1234,
        now=NOW,
        notify_id="N1",
    )
    fields.update(overrides)
    return alipay.sign_notification(fields, keys["alipay"]["alipay_private_key_pem"])


def test_sandbox_signed_notification_verifies_and_parses(alipay_config, sandbox_keys):
    # given what the sandbox Alipay posts for a paid order
    form = paid_form(alipay_config, sandbox_keys)
    # when it is verified
    notification = alipay.verify_notification(form, alipay_config)
    # then it is a TRADE_SUCCESS for 1234 fen, with Beijing times made aware
    assert isinstance(notification, AlipayNotification)
    assert notification.trade_status is TradeStatus.TRADE_SUCCESS
    assert notification.total_fen == 1234
    assert notification.refund_fen is None
    assert notification.out_trade_no == "oabc123def456"
    assert notification.notify_time == NOW
    assert notification.gmt_payment == NOW


def test_notification_survives_the_form_encoding_round_trip(alipay_config, sandbox_keys):
    form = paid_form(alipay_config, sandbox_keys, subject="订单 & 付款=1")
    posted = urlencode(form).encode()
    assert alipay.verify_notification(alipay.parse_form(posted), alipay_config).total_fen == 1234


def test_partial_refund_notification_reports_refund_fen(alipay_config, sandbox_keys):
    fields = alipay.build_trade_notification(
        alipay_config,
        out_trade_no="oabc123def456",
        trade_no="T1",
        amount_fen=1234,
        now=NOW,
        notify_id="N2",
        refund_fen=500,
        out_biz_no="r1",
    )
    form = alipay.sign_notification(fields, sandbox_keys["alipay"]["alipay_private_key_pem"])
    notification = alipay.verify_notification(form, alipay_config)
    assert (notification.refund_fen, notification.out_biz_no) == (500, "r1")


def test_tampered_amount_is_rejected(alipay_config, sandbox_keys):
    form = paid_form(alipay_config, sandbox_keys)
    form["total_amount"] = "0.01"
    with pytest.raises(CallbackRejected) as rejected:
        alipay.verify_notification(form, alipay_config)
    assert rejected.value.code == "bad_signature"


def test_notification_signed_by_another_key_is_rejected(alipay_config, other_keys):
    form = paid_form(alipay_config, other_keys)
    with pytest.raises(CallbackRejected) as rejected:
        alipay.verify_notification(form, alipay_config)
    assert rejected.value.code == "bad_signature"


def test_notification_without_sign_is_rejected(alipay_config, sandbox_keys):
    form = paid_form(alipay_config, sandbox_keys)
    del form["sign"]
    with pytest.raises(CallbackRejected) as rejected:
        alipay.verify_notification(form, alipay_config)
    assert rejected.value.code == "bad_signature"


def test_legacy_rsa_sha1_sign_type_is_rejected(alipay_config, sandbox_keys):
    form = paid_form(alipay_config, sandbox_keys)
    form["sign_type"] = "RSA"
    with pytest.raises(CallbackRejected) as rejected:
        alipay.verify_notification(form, alipay_config)
    assert rejected.value.code == "bad_signature"


def test_authentic_notification_for_another_app_is_rejected(alipay_config, sandbox_keys):
    form = paid_form(alipay_config, sandbox_keys, app_id="2021999999999999")
    with pytest.raises(CallbackRejected) as rejected:
        alipay.verify_notification(form, alipay_config)
    assert rejected.value.code == "wrong_merchant"


def test_authentic_notification_with_three_decimals_is_rejected_as_malformed(alipay_config, sandbox_keys):
    form = paid_form(alipay_config, sandbox_keys, total_amount="12.345")
    with pytest.raises(CallbackRejected) as rejected:
        alipay.verify_notification(form, alipay_config)
    assert rejected.value.code == "malformed_body"


# ---------------------------------------------------------------- gateway answers


def alipay_answer(node: str, payload_text: str, private_pem: str) -> HttpResponse:
    # Alipay signs the raw text of the response node; spacing is kept on purpose.
    sign = rsa_sign(payload_text.encode(), private_pem)
    body = '{"' + node + '":' + payload_text + ',"sign":"' + sign + '"}'
    return HttpResponse(status=200, body=body.encode())


def test_precreate_answer_is_verified_over_the_raw_response_text(alipay_config, sandbox_keys):
    payload = (
        '{"code":"10000", "msg":"Success","out_trade_no":"oabc123def456",'
        '"qr_code":"https:\\/\\/qr.alipay.com/x"}'
    )
    response = alipay_answer(
        "alipay_trade_precreate_response", payload, sandbox_keys["alipay"]["alipay_private_key_pem"]
    )
    result = alipay.parse_response(response, "alipay.trade.precreate", alipay_config)
    assert result["qr_code"] == "https://qr.alipay.com/x"


def test_answer_signed_by_another_key_is_refused(alipay_config, other_keys):
    payload = '{"code":"10000","msg":"Success","qr_code":"https://evil"}'
    response = alipay_answer(
        "alipay_trade_precreate_response", payload, other_keys["alipay"]["alipay_private_key_pem"]
    )
    with pytest.raises(ProviderError):
        alipay.parse_response(response, "alipay.trade.precreate", alipay_config)


def test_business_failure_surfaces_the_sub_code(alipay_config, sandbox_keys):
    payload = (
        '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_HAS_SUCCESS","sub_msg":"交易已被支付"}'
    )
    response = alipay_answer(
        "alipay_trade_precreate_response", payload, sandbox_keys["alipay"]["alipay_private_key_pem"]
    )
    with pytest.raises(ProviderError) as error:
        alipay.parse_response(response, "alipay.trade.precreate", alipay_config)
    assert error.value.code == "ACQ.TRADE_HAS_SUCCESS"


def test_close_request_names_only_the_trade_and_has_no_notify_url(alipay_config, sandbox_keys):
    request = alipay.close_request(alipay_config, out_trade_no="oabc123def456-2", now=NOW)
    form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert form["method"] == "alipay.trade.close" and "notify_url" not in form
    assert form["biz_content"] == '{"out_trade_no":"oabc123def456-2"}'
    content = alipay.sign_content(form, for_notify=False)
    assert rsa_sign(content.encode(), sandbox_keys["alipay"]["app_private_key_pem"]) == form["sign"]
