"""Fixtures for the payment adapters: one set of fresh RSA keys per session (key generation is slow).

The helpers here sign and verify with `cryptography` directly, independently of the adapters, so the
tests check the adapters against the providers' rules rather than against themselves.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.payments.adapters.alipay import AlipayConfig
from shared.payments.adapters.wechatpay import WechatPayConfig
from shared.sandbox.keys import generate_sandbox_keys

# A copy of ../shared/vectors/wechatpay_v3_notify.json (official wechatpay-go SDK test material), so a
# clean clone of this repository runs the same test.
VECTOR_PATH = Path(__file__).parent / "vectors" / "wechatpay_v3_notify.json"


def rsa_sign(message: bytes, private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(message: bytes, signature_b64: str, public_pem: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(signature_b64), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def sandbox_keys() -> dict[str, dict[str, Any]]:
    return generate_sandbox_keys()


@pytest.fixture(scope="session")
def other_keys() -> dict[str, dict[str, Any]]:
    """A second, unrelated key set: what a forger would sign with."""
    return generate_sandbox_keys()


@pytest.fixture(scope="session")
def wechat_config(sandbox_keys: dict[str, dict[str, Any]]) -> WechatPayConfig:
    keys = sandbox_keys["wechatpay"]
    return WechatPayConfig(
        mchid=keys["mchid"],
        appid=keys["appid"],
        merchant_serial_no=keys["merchant_serial_no"],
        merchant_private_key_pem=keys["merchant_private_key_pem"],
        api_v3_key=keys["api_v3_key"],
        platform_certificates=keys["platform_certificates"],
        notify_url="https://api.example.com/payments/wechatpay/notify",
    )


@pytest.fixture(scope="session")
def alipay_config(sandbox_keys: dict[str, dict[str, Any]]) -> AlipayConfig:
    keys = sandbox_keys["alipay"]
    return AlipayConfig(
        app_id=keys["app_id"],
        seller_id=keys["seller_id"],
        app_private_key_pem=keys["app_private_key_pem"],
        alipay_public_key_pem=keys["alipay_public_key_pem"],
        notify_url="https://api.example.com/payments/alipay/notify",
    )


@pytest.fixture(scope="session")
def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR_PATH.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def vector_config(vector: dict[str, Any], sandbox_keys: dict[str, dict[str, Any]]) -> WechatPayConfig:
    """A merchant whose platform certificate and API v3 key are the official vector's."""
    return WechatPayConfig(
        mchid="1234567890",
        appid="054aa7d7a2a54ab5898df65bd96f001c",
        merchant_serial_no="MERCHANTSERIAL",
        merchant_private_key_pem=sandbox_keys["wechatpay"]["merchant_private_key_pem"],
        api_v3_key=vector["api_v3_key"],
        platform_certificates={vector["headers"]["Wechatpay-Serial"]: vector["platform_certificate_pem"]},
        notify_url="https://api.example.com/payments/wechatpay/notify",
    )
