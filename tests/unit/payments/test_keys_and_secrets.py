"""Sandbox keys are real and fresh; production configs load from Secrets Manager without leaking."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography import x509
from moto import mock_aws

from shared.payments import secrets
from shared.payments.adapters.alipay import AlipayConfig
from shared.payments.adapters.wechatpay import WechatPayConfig
from shared.sandbox.keys import generate_sandbox_keys, secret_payloads


def test_sandbox_keys_are_pems_with_a_self_signed_platform_certificate(sandbox_keys):
    wechat = sandbox_keys["wechatpay"]
    certificate = x509.load_pem_x509_certificate(wechat["platform_certificate_pem"].encode())
    assert format(certificate.serial_number, "X") == wechat["platform_serial_no"]
    assert wechat["platform_certificates"] == {
        wechat["platform_serial_no"]: wechat["platform_certificate_pem"]
    }
    assert len(wechat["api_v3_key"]) == 32
    assert wechat["merchant_private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert sandbox_keys["alipay"]["alipay_public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_each_generation_gives_fresh_keys(sandbox_keys, other_keys):
    assert sandbox_keys["wechatpay"]["api_v3_key"] != other_keys["wechatpay"]["api_v3_key"]
    assert sandbox_keys["alipay"]["app_private_key_pem"] != other_keys["alipay"]["app_private_key_pem"]


def test_secret_payloads_build_valid_configs_without_sandbox_only_keys(sandbox_keys):
    payloads = secret_payloads(
        sandbox_keys, wechatpay_notify_url="http://127.0.0.1/w", alipay_notify_url="http://127.0.0.1/a"
    )
    WechatPayConfig.model_validate(payloads["wechatpay"])
    AlipayConfig.model_validate(payloads["alipay"])
    text = json.dumps(payloads)
    assert sandbox_keys["wechatpay"]["platform_private_key_pem"] not in text
    assert sandbox_keys["alipay"]["alipay_private_key_pem"] not in text


@pytest.fixture
def secrets_manager(monkeypatch, sandbox_keys) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    payloads = secret_payloads(
        sandbox_keys, wechatpay_notify_url="https://x/w", alipay_notify_url="https://x/a"
    )
    secrets.clear_cache()
    with mock_aws():
        client = boto3.client("secretsmanager")
        wechat = client.create_secret(
            Name="order24/wechatpay", SecretString=json.dumps(payloads["wechatpay"])
        )
        client.create_secret(Name="order24/alipay", SecretString=json.dumps(payloads["alipay"]))
        monkeypatch.setenv("WECHATPAY_SECRET_ARN", wechat["ARN"])
        monkeypatch.setenv("ALIPAY_SECRET_ARN", "order24/alipay")
        yield {"client": client, "payloads": payloads}
    secrets.clear_cache()


def test_configs_load_from_secrets_manager_and_are_cached(secrets_manager, sandbox_keys):
    # given both secrets stored
    # when the configs are loaded twice
    first = secrets.wechatpay_config()
    second = secrets.wechatpay_config()
    # then they are real configs, built once
    assert first is second
    assert first.mchid == sandbox_keys["wechatpay"]["mchid"]
    assert first.notify_url == "https://x/w"
    assert secrets.alipay_config().app_id == sandbox_keys["alipay"]["app_id"]


def test_notify_urls_are_our_own_api_url_not_the_secrets(secrets_manager, monkeypatch):
    monkeypatch.setenv("PUBLIC_API_URL", "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/")
    assert secrets.alipay_config().notify_url == (
        "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/payments/alipay/notify"
    )
    assert secrets.wechatpay_config().notify_url == (
        "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/payments/wechatpay/notify"
    )


def test_invalid_secret_names_fields_but_never_values(secrets_manager, sandbox_keys):
    broken = dict(secrets_manager["payloads"]["wechatpay"], api_v3_key="leaky-secret-value-17")
    secrets_manager["client"].put_secret_value(SecretId="order24/wechatpay", SecretString=json.dumps(broken))
    secrets.clear_cache()
    with pytest.raises(secrets.SecretConfigError) as error:
        secrets.wechatpay_config()
    assert "api_v3_key" in str(error.value)
    assert "leaky-secret-value-17" not in str(error.value)
    assert "PRIVATE KEY" not in str(error.value)


def test_missing_env_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ALIPAY_SECRET_ARN", raising=False)
    with pytest.raises(secrets.SecretConfigError, match="ALIPAY_SECRET_ARN"):
        secrets.alipay_config()


def test_generate_sandbox_keys_returns_both_providers():
    keys = generate_sandbox_keys()
    assert set(keys) == {"wechatpay", "alipay"}
