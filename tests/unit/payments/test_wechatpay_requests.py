"""WeChat Pay v3 outbound requests, checked byte for byte against hand-built expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.payments.adapters import wechatpay
from shared.payments.adapters.errors import ProviderError
from shared.payments.adapters.http import HttpResponse
from shared.payments.adapters.wechatpay import WechatPayConfig

from .conftest import rsa_sign, rsa_verify

NOW = datetime(2025, 3, 1, 4, 0, 0, tzinfo=UTC)  # 12:00 in Beijing
TS = int(NOW.timestamp())
NONCE = "593BEC0C930BF1AFEB40B4A08C8FB242"


def expected_authorization(config: WechatPayConfig, message: str, private_pem: str) -> str:
    # PKCS#1 v1.5 is deterministic: the test can compute the very same signature independently.
    signature = rsa_sign(message.encode(), private_pem)
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{config.mchid}",nonce_str="{NONCE}",signature="{signature}",'
        f'timestamp="{TS}",serial_no="{config.merchant_serial_no}"'
    )


def test_authorization_header_signs_method_url_timestamp_nonce_and_body(wechat_config, sandbox_keys):
    keys = sandbox_keys["wechatpay"]
    body = '{"a":"中文"}'
    header = wechatpay.authorization_header(
        "POST", "/v3/pay/transactions/native", body, wechat_config, timestamp=TS, nonce=NONCE
    )
    message = f"POST\n/v3/pay/transactions/native\n{TS}\n{NONCE}\n{body}\n"
    assert header == expected_authorization(wechat_config, message, keys["merchant_private_key_pem"])
    signature = header.split('signature="')[1].split('"')[0]
    assert rsa_verify(message.encode(), signature, keys["merchant_public_key_pem"])


def test_get_request_signs_an_empty_body_and_the_query_string(wechat_config, sandbox_keys):
    request = wechatpay.query_by_out_trade_no_request(wechat_config, "oabc123def456", now=NOW, nonce=NONCE)
    url = f"/v3/pay/transactions/out-trade-no/oabc123def456?mchid={wechat_config.mchid}"
    assert request.method == "GET"
    assert request.url == "https://api.mch.weixin.qq.com" + url
    assert request.body == b""
    assert "Content-Type" not in request.headers
    message = f"GET\n{url}\n{TS}\n{NONCE}\n\n"
    assert request.headers["Authorization"] == expected_authorization(
        wechat_config, message, sandbox_keys["wechatpay"]["merchant_private_key_pem"]
    )


def test_native_prepay_request_is_exactly_the_documented_post(wechat_config, sandbox_keys):
    # given an order that expires 15 minutes from now
    request = wechatpay.native_prepay_request(
        wechat_config,
        out_trade_no="oabc123def456",
        description="order24 订单",
        amount_fen=1234,
        time_expire=NOW + timedelta(minutes=15),
        now=NOW,
        nonce=NONCE,
    )
    expected_body = (
        '{"appid":"' + wechat_config.appid + '","mchid":"' + wechat_config.mchid + '",'
        '"description":"order24 订单","out_trade_no":"oabc123def456",'
        '"time_expire":"2025-03-01T12:15:00+08:00","notify_url":"' + wechat_config.notify_url + '",'
        '"amount":{"total":1234,"currency":"CNY"}}'
    ).encode()
    assert request.method == "POST"
    assert request.url == "https://api.mch.weixin.qq.com/v3/pay/transactions/native"
    assert request.body == expected_body
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"]
    message = f"POST\n/v3/pay/transactions/native\n{TS}\n{NONCE}\n{expected_body.decode()}\n"
    assert request.headers["Authorization"] == expected_authorization(
        wechat_config, message, sandbox_keys["wechatpay"]["merchant_private_key_pem"]
    )


def test_jsapi_prepay_request_names_the_payer(wechat_config):
    request = wechatpay.jsapi_prepay_request(
        wechat_config,
        out_trade_no="oabc123def456",
        description="d",
        amount_fen=1,
        payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        time_expire=None,
        now=NOW,
        nonce=NONCE,
    )
    body = json.loads(request.body)
    assert request.url.endswith("/v3/pay/transactions/jsapi")
    assert body["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
    assert "time_expire" not in body
    assert body["amount"] == {"total": 1, "currency": "CNY"}


def test_jsapi_pay_params_sign_appid_timestamp_nonce_and_package(wechat_config, sandbox_keys):
    params = wechatpay.jsapi_pay_params(
        wechat_config, "wx201410272009395522657a690389285100", timestamp=TS, nonce=NONCE
    )
    package = "prepay_id=wx201410272009395522657a690389285100"
    message = f"{wechat_config.appid}\n{TS}\n{NONCE}\n{package}\n"
    assert params == {
        "appId": wechat_config.appid,
        "timeStamp": str(TS),
        "nonceStr": NONCE,
        "package": package,
        "signType": "RSA",
        "paySign": rsa_sign(message.encode(), sandbox_keys["wechatpay"]["merchant_private_key_pem"]),
    }


def test_refund_request_is_exactly_the_documented_post(wechat_config, sandbox_keys):
    request = wechatpay.refund_request(
        wechat_config,
        out_trade_no="oabc123def456",
        out_refund_no="r-oabc123def456-1",
        refund_fen=500,
        total_fen=1234,
        reason="商品已售完",
        now=NOW,
        nonce=NONCE,
    )
    expected_body = (
        '{"out_trade_no":"oabc123def456","out_refund_no":"r-oabc123def456-1","reason":"商品已售完",'
        '"notify_url":"'
        + wechat_config.notify_url
        + '","amount":{"refund":500,"total":1234,"currency":"CNY"}}'
    ).encode()
    assert request.url == "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds"
    assert request.body == expected_body
    message = f"POST\n/v3/refund/domestic/refunds\n{TS}\n{NONCE}\n{expected_body.decode()}\n"
    assert request.headers["Authorization"] == expected_authorization(
        wechat_config, message, sandbox_keys["wechatpay"]["merchant_private_key_pem"]
    )


@pytest.mark.parametrize("amount", [0, -1, 12.34, True, "1234"])
def test_prepay_refuses_anything_but_a_positive_int_of_fen(wechat_config, amount):
    with pytest.raises(ValueError):
        wechatpay.native_prepay_request(
            wechat_config,
            out_trade_no="oabc123def456",
            description="d",
            amount_fen=amount,
            time_expire=None,
            now=NOW,
            nonce=NONCE,
        )


def test_refund_larger_than_the_payment_is_refused(wechat_config):
    with pytest.raises(ValueError):
        wechatpay.refund_request(
            wechat_config,
            out_trade_no="oabc123def456",
            out_refund_no="r1",
            refund_fen=2,
            total_fen=1,
            reason=None,
            now=NOW,
            nonce=NONCE,
        )


def test_naive_expiry_time_is_refused(wechat_config):
    with pytest.raises(ValueError):
        wechatpay.native_prepay_request(
            wechat_config,
            out_trade_no="oabc123def456",
            description="d",
            amount_fen=1,
            time_expire=datetime(2025, 1, 1),
            now=NOW,
            nonce=NONCE,
        )


def test_config_repr_and_str_never_show_keys(wechat_config, sandbox_keys):
    keys = sandbox_keys["wechatpay"]
    for text in (repr(wechat_config), str(wechat_config), str(wechat_config.model_dump())):
        assert keys["api_v3_key"] not in text
        assert "PRIVATE KEY" not in text


def test_config_validation_error_does_not_echo_the_key():
    secret = "short-secret-key"  # 16 bytes would pass, so make it 17
    with pytest.raises(ValueError) as error:
        WechatPayConfig(
            mchid="1",
            appid="a",
            merchant_serial_no="s",
            merchant_private_key_pem="-----BEGIN PRIVATE KEY-----",
            api_v3_key=secret + "x",
            platform_certificates={"S": "pem"},
            notify_url="https://x/n",
        )
    assert secret not in str(error.value)


# ---------------------------------------------------------------- signed API responses


def signed_response(body: bytes, keys, *, status: int = 200) -> HttpResponse:
    headers = wechatpay.sign_notification(
        body,
        platform_private_key_pem=keys["wechatpay"]["platform_private_key_pem"],
        serial=keys["wechatpay"]["platform_serial_no"],
        timestamp=TS,
        nonce="resp-nonce",
    )
    return HttpResponse(status=status, headers={k.lower(): v for k, v in headers.items()}, body=body)


def test_signed_prepay_response_yields_the_code_url(wechat_config, sandbox_keys):
    response = signed_response(b'{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}', sandbox_keys)
    assert (
        wechatpay.parse_native_prepay_response(response, wechat_config, now=NOW)
        == "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"
    )


def test_prepay_response_signed_by_someone_else_is_refused(wechat_config, other_keys, sandbox_keys):
    response = signed_response(b'{"prepay_id":"wx1"}', other_keys)
    forged = HttpResponse(
        status=200,
        headers={**response.headers, "wechatpay-serial": sandbox_keys["wechatpay"]["platform_serial_no"]},
        body=response.body,
    )
    with pytest.raises(ProviderError):
        wechatpay.parse_jsapi_prepay_response(forged, wechat_config, now=NOW)


def test_error_response_surfaces_wechat_code_and_status(wechat_config):
    response = HttpResponse(status=400, body='{"code":"PARAM_ERROR","message":"参数错误"}'.encode())
    with pytest.raises(ProviderError) as error:
        wechatpay.parse_native_prepay_response(response, wechat_config, now=NOW)
    assert (error.value.status, error.value.code) == (400, "PARAM_ERROR")


# ---------------------------------------------------------------- closing a superseded trade


def test_close_request_posts_the_mchid_to_the_trade_close_url(wechat_config, sandbox_keys):
    request = wechatpay.close_request(wechat_config, "oabc123def456-2", now=NOW, nonce=NONCE)
    url = "/v3/pay/transactions/out-trade-no/oabc123def456-2/close"
    assert request.method == "POST" and request.url == "https://api.mch.weixin.qq.com" + url
    body = json.dumps({"mchid": wechat_config.mchid}, separators=(",", ":"))
    assert json.loads(request.body) == {"mchid": wechat_config.mchid}
    message = f"POST\n{url}\n{TS}\n{NONCE}\n{request.body.decode()}\n"
    assert request.body.decode() == body
    assert request.headers["Authorization"] == expected_authorization(
        wechat_config, message, sandbox_keys["wechatpay"]["merchant_private_key_pem"]
    )


def test_close_answer_is_a_signed_204_and_anything_else_is_refused(wechat_config, sandbox_keys, other_keys):
    closed = signed_response(b"", sandbox_keys, status=204)
    wechatpay.parse_close_response(closed, wechat_config, now=NOW)  # no error: closed
    forged = signed_response(b"", other_keys, status=204)
    forged.headers["wechatpay-serial"] = sandbox_keys["wechatpay"]["platform_serial_no"]
    with pytest.raises(ProviderError):
        wechatpay.parse_close_response(forged, wechat_config, now=NOW)
    error = signed_response(b'{"code":"ORDERPAID","message":"paid"}', sandbox_keys, status=400)
    with pytest.raises(ProviderError) as raised:
        wechatpay.parse_close_response(error, wechat_config, now=NOW)
    assert raised.value.code == "ORDERPAID"
