"""Fresh sandbox credentials for the local runtime (`make run`): real algorithms, throwaway keys.

Nothing here is committed: the local stack calls `generate_sandbox_keys()` at start-up and writes the
result to `.local/stack.json` (git-ignored). `secret_payloads()` gives the exact JSON to store under
`WECHATPAY_SECRET_ARN` / `ALIPAY_SECRET_ARN` in moto's Secrets Manager, in the shape `shared.payments.secrets`
documents, so the local path loads its configs exactly as production does.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

DEMO_MCHID = "1900000109"
DEMO_APPID = "wx8888888888888888"
DEMO_ALIPAY_APP_ID = "2021000000000001"
DEMO_ALIPAY_SELLER_ID = "2088000000000001"


def _rsa_pair() -> tuple[str, str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem, key


def _self_signed_certificate(key: Any, common_name: str) -> tuple[str, str]:
    """A platform certificate like WeChat's, and its serial as WeChat writes it (hex, upper case)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), format(
        certificate.serial_number, "X"
    )


def generate_sandbox_keys() -> dict[str, dict[str, Any]]:
    """Two blocks, `wechatpay` and `alipay`, of PEM strings and demo ids.

    wechatpay: mchid, appid, merchant_serial_no, merchant_private_key_pem, merchant_public_key_pem,
               api_v3_key, platform_serial_no, platform_private_key_pem (sandbox only: signs callbacks),
               platform_certificate_pem, platform_certificates {serial: certificate PEM}
    alipay:    app_id, seller_id, app_private_key_pem, app_public_key_pem,
               alipay_private_key_pem (sandbox only: signs callbacks), alipay_public_key_pem
    """
    merchant_private, merchant_public, _ = _rsa_pair()
    platform_private, _, platform_key = _rsa_pair()
    certificate_pem, platform_serial = _self_signed_certificate(
        platform_key, "order24 sandbox WeChat Pay platform"
    )
    app_private, app_public, _ = _rsa_pair()
    alipay_private, alipay_public, _ = _rsa_pair()
    alphabet = string.ascii_letters + string.digits
    return {
        "wechatpay": {
            "mchid": DEMO_MCHID,
            "appid": DEMO_APPID,
            "merchant_serial_no": secrets.token_hex(20).upper(),
            "merchant_private_key_pem": merchant_private,
            "merchant_public_key_pem": merchant_public,
            "api_v3_key": "".join(secrets.choice(alphabet) for _ in range(32)),
            "platform_serial_no": platform_serial,
            "platform_private_key_pem": platform_private,
            "platform_certificate_pem": certificate_pem,
            "platform_certificates": {platform_serial: certificate_pem},
        },
        "alipay": {
            "app_id": DEMO_ALIPAY_APP_ID,
            "seller_id": DEMO_ALIPAY_SELLER_ID,
            "app_private_key_pem": app_private,
            "app_public_key_pem": app_public,
            "alipay_private_key_pem": alipay_private,
            "alipay_public_key_pem": alipay_public,
        },
    }


def secret_payloads(
    keys: dict[str, dict[str, Any]],
    *,
    wechatpay_notify_url: str,
    alipay_notify_url: str,
    wechatpay_base_url: str | None = None,
    alipay_gateway: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The Secrets Manager JSON for each provider (sandbox-only private keys left out)."""
    wechat = keys["wechatpay"]
    alipay = keys["alipay"]
    wechat_secret: dict[str, Any] = {
        "mchid": wechat["mchid"],
        "appid": wechat["appid"],
        "merchant_serial_no": wechat["merchant_serial_no"],
        "merchant_private_key_pem": wechat["merchant_private_key_pem"],
        "api_v3_key": wechat["api_v3_key"],
        "platform_certificates": dict(wechat["platform_certificates"]),
        "notify_url": wechatpay_notify_url,
    }
    if wechatpay_base_url:
        wechat_secret["base_url"] = wechatpay_base_url
    alipay_secret: dict[str, Any] = {
        "app_id": alipay["app_id"],
        "seller_id": alipay["seller_id"],
        "app_private_key_pem": alipay["app_private_key_pem"],
        "alipay_public_key_pem": alipay["alipay_public_key_pem"],
        "notify_url": alipay_notify_url,
    }
    if alipay_gateway:
        alipay_secret["gateway"] = alipay_gateway
    return {"wechatpay": wechat_secret, "alipay": alipay_secret}
