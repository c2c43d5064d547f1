"""WeChat Pay v3 callbacks: the official vector, freshness, tampering, forgery, decryption, parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from shared.core import clock
from shared.payments.adapters import wechatpay
from shared.payments.adapters.errors import CallbackRejected
from shared.payments.adapters.wechatpay import (
    RefundStatus,
    TradeState,
    WechatPayConfig,
    WechatRefund,
    WechatTransaction,
)

from .conftest import rsa_sign


def vector_time(vector: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(vector["headers"]["Wechatpay-Timestamp"]), UTC)


def rejection_code(exc_info: pytest.ExceptionInfo[CallbackRejected]) -> str:
    return exc_info.value.code


# ---------------------------------------------------------------- the official vector


def test_official_vector_verifies_and_decrypts_at_its_own_timestamp(vector, vector_config):
    # given the clock frozen at the vector's timestamp
    with time_machine.travel(vector_time(vector), tick=False):
        # when the notification is parsed with "now" from our one clock
        notification = wechatpay.parse_notification(
            vector["headers"], vector["body"], vector_config, now=clock.now()
        )
    # then it is authentic and its resource decrypts to the expected plaintext
    assert notification.id == "3119dfba-e649-5eec-ab1e-3412bc4d2e17"
    assert notification.event_type == "PAYSCORE.USER_OPEN_SERVICE"
    assert notification.create_time == datetime(2021, 6, 24, 8, 37, 26, tzinfo=UTC)
    assert notification.resource_raw == json.loads(vector["expected_plaintext"])


def test_unknown_event_type_keeps_the_decrypted_resource_raw(vector, vector_config):
    notification = wechatpay.parse_notification(
        vector["headers"], vector["body"].encode(), vector_config, now=vector_time(vector)
    )
    assert notification.resource == json.loads(vector["expected_plaintext"])
    assert isinstance(notification.resource, dict)


def test_official_decrypt_only_block_decrypts_to_hello_world(vector):
    block = vector["decrypt_only"]
    resource = {
        "nonce": block["nonce"],
        "associated_data": block["associated_data"],
        "ciphertext": block["ciphertext"],
    }
    assert wechatpay.decrypt_resource(resource, block["key"]) == b"Hello World"
    assert block["plaintext"] == "Hello World"


def test_vector_is_accepted_at_the_edge_of_the_five_minute_window(vector, vector_config):
    for skew in (-300, 300):
        wechatpay.verify_notification(
            vector["headers"],
            vector["body"],
            vector_config,
            now=vector_time(vector) + timedelta(seconds=skew),
        )


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_vector_is_rejected_as_stale_outside_the_window(vector, vector_config, skew):
    # given the same authentic notification replayed 301 s (or more) away from its timestamp
    with (
        time_machine.travel(vector_time(vector) + timedelta(seconds=skew), tick=False),
        pytest.raises(CallbackRejected) as rejected,
    ):
        wechatpay.verify_notification(vector["headers"], vector["body"], vector_config, now=clock.now())
    assert rejection_code(rejected) == "stale_timestamp"


def test_vector_with_one_body_byte_changed_is_rejected_as_bad_signature(vector, vector_config):
    body = bytearray(vector["body"].encode())
    body[10] ^= 0x01  # one bit in the event id
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.verify_notification(vector["headers"], bytes(body), vector_config, now=vector_time(vector))
    assert rejection_code(rejected) == "bad_signature"


def test_vector_with_another_serial_is_rejected_as_unknown_serial(vector, vector_config):
    headers = {**vector["headers"], "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.verify_notification(headers, vector["body"], vector_config, now=vector_time(vector))
    assert rejection_code(rejected) == "unknown_serial"


def test_signature_from_another_key_under_the_known_serial_is_rejected(vector, vector_config, other_keys):
    # given a forger who knows the serial but signs with their own key
    headers = dict(vector["headers"])
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{vector['body']}\n".encode()
    headers["Wechatpay-Signature"] = rsa_sign(message, other_keys["wechatpay"]["platform_private_key_pem"])
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.verify_notification(headers, vector["body"], vector_config, now=vector_time(vector))
    assert rejection_code(rejected) == "bad_signature"


def test_wechat_sign_test_probe_is_rejected_as_bad_signature(vector, vector_config):
    headers = {**vector["headers"], "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + "A" * 300}
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.verify_notification(headers, vector["body"], vector_config, now=vector_time(vector))
    assert rejection_code(rejected) == "bad_signature"


@pytest.mark.parametrize(
    "header", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
)
def test_each_missing_header_is_rejected_as_missing_header(vector, vector_config, header):
    headers = {k: v for k, v in vector["headers"].items() if k != header}
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.verify_notification(headers, vector["body"], vector_config, now=vector_time(vector))
    assert rejection_code(rejected) == "missing_header"
    assert rejected.value.status == 401


def test_headers_are_matched_case_insensitively_as_api_gateway_lowercases_them(vector, vector_config):
    headers = {k.lower(): v for k, v in vector["headers"].items()}
    wechatpay.verify_notification(headers, vector["body"], vector_config, now=vector_time(vector))


def test_rejection_classes_have_distinct_stable_codes():
    from shared.payments.adapters import errors

    codes = {
        cls.code
        for cls in (
            errors.MissingHeader,
            errors.UnknownSerial,
            errors.BadSignature,
            errors.StaleTimestamp,
            errors.DecryptFailed,
            errors.MalformedNotification,
            errors.WrongMerchant,
        )
    }
    assert codes == {
        "missing_header",
        "unknown_serial",
        "bad_signature",
        "stale_timestamp",
        "decrypt_failed",
        "malformed_body",
        "wrong_merchant",
    }


# ---------------------------------------------------------------- decryption


def test_resource_with_wrong_key_fails_to_decrypt_without_leaking_the_key(vector):
    resource = json.loads(vector["body"])["resource"]
    wrong_key = "W" * 32
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.decrypt_resource(resource, wrong_key)
    assert rejection_code(rejected) == "decrypt_failed"
    assert wrong_key not in str(rejected.value)


def test_resource_with_a_flipped_ciphertext_byte_fails_to_decrypt(vector):
    resource = dict(json.loads(vector["body"])["resource"])
    resource["associated_data"] = "payscorE"  # the tag covers associated data too
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.decrypt_resource(resource, vector["api_v3_key"])
    assert rejection_code(rejected) == "decrypt_failed"


def test_encrypt_then_decrypt_round_trips_with_a_32_byte_key(wechat_config):
    key = wechat_config.api_v3_key.get_secret_value()
    resource = wechatpay.encrypt_resource(
        b'{"a":1}', key, nonce="abcdefghijkl", associated_data="transaction"
    )
    assert resource["algorithm"] == "AEAD_AES_256_GCM"
    assert wechatpay.decrypt_resource(resource, key) == b'{"a":1}'


# ---------------------------------------------------------------- sandbox round trips


def signed(body: bytes, keys: dict[str, Any], *, timestamp: int, nonce: str = "n0nce") -> dict[str, str]:
    return wechatpay.sign_notification(
        body,
        platform_private_key_pem=keys["wechatpay"]["platform_private_key_pem"],
        serial=keys["wechatpay"]["platform_serial_no"],
        timestamp=timestamp,
        nonce=nonce,
    )


NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_sandbox_payment_notification_parses_into_a_transaction(wechat_config, sandbox_keys):
    # given what the sandbox WeChat would send for a paid order
    body = wechatpay.build_transaction_notification(
        wechat_config,
        out_trade_no="oabc123def456",
        transaction_id="4200000000202503011234567890",
        amount_fen=1234,
        now=NOW,
        event_id="EV-1",
        resource_nonce="0123456789ab",
    )
    headers = signed(body, sandbox_keys, timestamp=int(NOW.timestamp()))
    # when it arrives ten seconds later
    notification = wechatpay.parse_notification(headers, body, wechat_config, now=NOW + timedelta(seconds=10))
    # then it is a successful transaction for that order and amount
    assert notification.id == "EV-1"
    assert notification.event_type == "TRANSACTION.SUCCESS"
    transaction = notification.resource
    assert isinstance(transaction, WechatTransaction)
    assert transaction.trade_state is TradeState.SUCCESS
    assert transaction.out_trade_no == "oabc123def456"
    assert transaction.amount.total == 1234
    assert transaction.amount.payer_total == 1234
    assert transaction.amount.currency == "CNY"
    assert transaction.mchid == wechat_config.mchid
    assert transaction.success_time == NOW


def test_sandbox_refund_notification_parses_into_a_refund(wechat_config, sandbox_keys):
    body = wechatpay.build_refund_notification(
        wechat_config,
        out_trade_no="oabc123def456",
        transaction_id="4200000000202503011234567890",
        out_refund_no="r-1",
        refund_id="50000000382019052709732678859",
        refund_fen=500,
        total_fen=1234,
        now=NOW,
        event_id="EV-2",
        resource_nonce="0123456789ab",
    )
    headers = signed(body, sandbox_keys, timestamp=int(NOW.timestamp()))
    notification = wechatpay.parse_notification(headers, body, wechat_config, now=NOW)
    assert notification.event_type == "REFUND.SUCCESS"
    refund = notification.resource
    assert isinstance(refund, WechatRefund)
    assert refund.refund_status is RefundStatus.SUCCESS
    assert (refund.amount.refund, refund.amount.total) == (500, 1234)
    assert refund.out_refund_no == "r-1"


def test_payment_notification_for_another_merchant_is_rejected(wechat_config, sandbox_keys):
    body = wechatpay.build_transaction_notification(
        wechat_config,
        out_trade_no="oabc123def456",
        transaction_id="42000000",
        amount_fen=1,
        now=NOW,
        event_id="EV-3",
        resource_nonce="0123456789ab",
        mchid="1999999999",
    )
    headers = signed(body, sandbox_keys, timestamp=int(NOW.timestamp()))
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.parse_notification(headers, body, wechat_config, now=NOW)
    assert rejection_code(rejected) == "wrong_merchant"


def test_authentic_but_non_json_body_is_rejected_as_malformed(wechat_config, sandbox_keys):
    body = b"not json"
    headers = signed(body, sandbox_keys, timestamp=int(NOW.timestamp()))
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.parse_notification(headers, body, wechat_config, now=NOW)
    assert rejection_code(rejected) == "malformed_body"
    assert rejected.value.status == 400


def test_notification_encrypted_with_another_api_v3_key_is_rejected(wechat_config, other_keys, sandbox_keys):
    other_config = WechatPayConfig.model_validate(
        {**wechat_config.model_dump(), "api_v3_key": other_keys["wechatpay"]["api_v3_key"]}
    )
    body = wechatpay.build_transaction_notification(
        other_config,
        out_trade_no="oabc123def456",
        transaction_id="42000000",
        amount_fen=1,
        now=NOW,
        event_id="EV-4",
        resource_nonce="0123456789ab",
    )
    headers = signed(body, sandbox_keys, timestamp=int(NOW.timestamp()))
    with pytest.raises(CallbackRejected) as rejected:
        wechatpay.parse_notification(headers, body, wechat_config, now=NOW)
    assert rejection_code(rejected) == "decrypt_failed"
