"""Refund confirmation in the adapters: Alipay's refund query (request and verified answer), and WeChat Pay's
REFUND.* notifications checked against the official wechatpay-go vector (../shared/vectors/wechatpay_v3_notify.json).

There is no official signed REFUND.* vector: the vector is a PAYSCORE notification. What it proves is the
envelope's verification (SHA256withRSA over `timestamp\\nnonce\\nbody\\n`) and the resource's AEAD decryption,
which REFUND.* notifications go through unchanged (`parse_notification`). The refund resource itself is the
example WeChat Pay documents for 退款结果通知 (the `refund_status` notification shape)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest

from shared.payments.adapters import alipay, wechatpay
from shared.payments.adapters.errors import CallbackRejected, ProviderError
from shared.payments.adapters.http import HttpResponse
from shared.payments.adapters.wechatpay import RefundStatus, WechatPayConfig, WechatRefund

from .conftest import rsa_sign, rsa_verify

NOW = datetime(2025, 3, 1, 4, 0, 5, tzinfo=UTC)  # 12:00:05 in Beijing

# The resource WeChat Pay documents for a refund notification (退款结果通知, decrypted)
DOCUMENTED_REFUND = {
    "mchid": "1900000100",
    "transaction_id": "1008450740201411110005820873",
    "out_trade_no": "20150806125346",
    "refund_id": "50200207182018070300011301001",
    "out_refund_no": "7752501201407033233368018",
    "refund_status": "SUCCESS",
    "success_time": "2018-06-08T10:34:56+08:00",
    "user_received_account": "招商银行信用卡0403",
    "amount": {"total": 999, "refund": 999, "payer_total": 999, "payer_refund": 999},
}


# ---------------------------------------------------------------- Alipay: alipay.trade.fastpay.refund.query


def test_the_refund_query_is_a_signed_form_naming_the_trade_and_the_refund_request(alipay_config, sandbox_keys):
    request = alipay.refund_query_request(alipay_config, out_trade_no="oabc123def456",
                                          out_request_no="oabc123def456-cancel", now=NOW)
    form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    assert form["method"] == "alipay.trade.fastpay.refund.query" and "notify_url" not in form
    assert json.loads(form["biz_content"]) == {"out_trade_no": "oabc123def456",
                                               "out_request_no": "oabc123def456-cancel",
                                               "query_options": ["gmt_refund_pay"]}
    content = alipay.sign_content(form, for_notify=False).encode()
    assert rsa_verify(content, form["sign"], sandbox_keys["alipay"]["app_public_key_pem"])


def answer(payload: dict[str, Any], keys: dict[str, Any], *, signer: str | None = None) -> HttpResponse:
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    sign = rsa_sign(raw.encode(), signer or keys["alipay"]["alipay_private_key_pem"])
    body = f'{{"alipay_trade_fastpay_refund_query_response":{raw},"sign":"{sign}"}}'
    return HttpResponse(200, {"Content-Type": "application/json"}, body.encode())


def test_refund_success_in_the_query_answer_means_refunded(alipay_config, sandbox_keys):
    # the documented answer's fields
    reply = answer({"code": "10000", "msg": "Success", "trade_no": "2014112611001004680073956707",
                    "out_trade_no": "20150320010101001", "out_request_no": "20150320010101001",
                    "refund_reason": "用户退款请求", "total_amount": "100.20", "refund_amount": "12.33",
                    "refund_status": "REFUND_SUCCESS", "gmt_refund_pay": "2014-11-27 15:45:57"}, sandbox_keys)
    found = alipay.parse_refund_query_response(reply, alipay_config)
    assert found.succeeded and (found.refund_fen, found.total_fen) == (1233, 10020)
    assert found.gmt_refund_pay == datetime(2014, 11, 27, 7, 45, 57, tzinfo=UTC)


def test_an_answer_without_refund_status_means_not_refunded_yet(alipay_config, sandbox_keys):
    found = alipay.parse_refund_query_response(answer({"code": "10000", "msg": "Success"}, sandbox_keys),
                                               alipay_config)
    assert not found.succeeded and found.refund_fen is None


def test_a_forged_or_failed_query_answer_raises(alipay_config, sandbox_keys, other_keys):
    forged = answer({"code": "10000", "msg": "Success", "refund_status": "REFUND_SUCCESS", "refund_amount": "1.00"},
                    sandbox_keys, signer=other_keys["alipay"]["alipay_private_key_pem"])
    with pytest.raises(ProviderError, match="does not verify"):
        alipay.parse_refund_query_response(forged, alipay_config)
    refused = answer({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}, sandbox_keys)
    with pytest.raises(ProviderError) as error:
        alipay.parse_refund_query_response(refused, alipay_config)
    assert error.value.code == "ACQ.TRADE_NOT_EXIST"


# ---------------------------------------------------------------- WeChat Pay: REFUND.* with the official vector


def test_the_documented_refund_resource_decrypts_with_the_official_vector_key_and_parses(vector):
    # AEAD_AES_256_GCM exactly as the vector's resource (16-byte official test key, 12-byte nonce, "refund" AAD)
    resource = wechatpay.encrypt_resource(json.dumps(DOCUMENTED_REFUND, ensure_ascii=False).encode(),
                                          vector["api_v3_key"], nonce="Kj7QIyUiYx1q", associated_data="refund",
                                          original_type="refund")
    plain = wechatpay.decrypt_resource(resource, vector["api_v3_key"])
    refund = wechatpay._parse_resource("REFUND.SUCCESS", json.loads(plain))
    assert isinstance(refund, WechatRefund) and refund.refund_status is RefundStatus.SUCCESS
    assert (refund.out_refund_no, refund.amount.refund, refund.amount.total) == ("7752501201407033233368018", 999,
                                                                                 999)
    # and the official decrypt-only block decrypts with the same function (the vector's own proof)
    block = vector["decrypt_only"]
    assert wechatpay.decrypt_resource(block, block["key"]) == block["plaintext"].encode()


def test_a_refund_resource_swapped_into_the_official_notification_fails_its_signature(vector, vector_config):
    # the official envelope, its resource replaced by a refund: the platform's signature covers the body
    envelope = json.loads(vector["body"])
    envelope["event_type"] = "REFUND.SUCCESS"
    envelope["resource"] = wechatpay.encrypt_resource(json.dumps(DOCUMENTED_REFUND).encode(), vector["api_v3_key"],
                                                      nonce="Kj7QIyUiYx1q", associated_data="refund")
    at = datetime.fromtimestamp(int(vector["headers"]["Wechatpay-Timestamp"]), UTC)
    wechatpay.verify_notification(vector["headers"], vector["body"], vector_config, now=at)  # the original: good
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.parse_notification(vector["headers"], json.dumps(envelope), vector_config, now=at)
    assert rejected.value.code == "bad_signature"


@pytest.mark.parametrize("status", ["SUCCESS", "ABNORMAL", "CLOSED"])
def test_refund_notifications_under_the_official_test_key_verify_decrypt_and_parse(
        vector, wechat_config, sandbox_keys, status):
    # the official vector's 16-byte API v3 key (AES-128-GCM), signed by the sandbox platform key we hold
    config = WechatPayConfig.model_validate({**wechat_config.model_dump(), "api_v3_key": vector["api_v3_key"]})
    body = wechatpay.build_refund_notification(
        config, out_trade_no="oabc123def456", transaction_id="4200000000202503011234567890",
        out_refund_no="oabc123def456-cancel", refund_id="50000000382019052709732678859", refund_fen=500,
        total_fen=1234, refund_status=status, now=NOW, event_id="EV-R", resource_nonce="0123456789ab")
    headers = wechatpay.sign_notification(body, platform_private_key_pem=sandbox_keys["wechatpay"][
        "platform_private_key_pem"], serial=sandbox_keys["wechatpay"]["platform_serial_no"],
        timestamp=int(NOW.timestamp()), nonce="n0nce")
    notification = wechatpay.parse_notification(headers, body, config, now=NOW)
    assert notification.event_type == f"REFUND.{status}"
    refund = notification.resource
    assert isinstance(refund, WechatRefund) and refund.refund_status is RefundStatus(status)
    assert (refund.success_time is not None) == (status == "SUCCESS")
    tampered = json.loads(body)
    ciphertext = bytearray(base64.b64decode(tampered["resource"]["ciphertext"]))
    ciphertext[0] ^= 1
    tampered["resource"]["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    raw = json.dumps(tampered, ensure_ascii=False, separators=(",", ":")).encode()
    resigned = {**headers, **wechatpay.sign_notification(raw, platform_private_key_pem=sandbox_keys["wechatpay"][
        "platform_private_key_pem"], serial=sandbox_keys["wechatpay"]["platform_serial_no"],
        timestamp=int(NOW.timestamp()), nonce="n0nce")}
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.parse_notification(resigned, raw, config, now=NOW)
    assert rejected.value.code == "decrypt_failed"
