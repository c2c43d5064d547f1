"""Provider configs from AWS Secrets Manager, through Powertools parameters (cached 300 s per container).

Env: `WECHATPAY_SECRET_ARN`, `ALIPAY_SECRET_ARN` (name or ARN). The secret string is one JSON object.
The notify URLs are our own API's (env PUBLIC_API_URL, set by the stack from the HttpApi's URL, and by the
local runtime to its gateway): `<PUBLIC_API_URL>/payments/<provider>/notify` replaces the secret's
`notify_url`, so one secret serves any stage and a callback can never be sent to a stale or guessed host.

WeChat Pay secret::

    {
      "mchid": "1900000109",
      "appid": "wx8888888888888888",
      "merchant_serial_no": "<serial of the merchant API certificate, hex>",
      "merchant_private_key_pem": "-----BEGIN PRIVATE KEY-----\\n...",   # apiclient_key.pem
      "api_v3_key": "<32 characters>",
      "platform_certificates": {                                       # every serial WeChat may sign with:
        "<PLATFORM CERT SERIAL, hex>": "-----BEGIN CERTIFICATE-----\\n...",
        "PUB_KEY_ID_0114...": "-----BEGIN PUBLIC KEY-----\\n..."        # or the WeChat Pay public key
      },
      "notify_url": "https://<api>/payments/wechatpay/notify",
      "base_url": "https://api.mch.weixin.qq.com"                     # optional
    }

During a platform certificate rotation keep the old and the new serial side by side in
`platform_certificates`, then drop the old one once WeChat stops using it.

Alipay secret::

    {
      "app_id": "2021000000000001",
      "seller_id": "2088000000000001",                                 # merchant PID
      "app_private_key_pem": "-----BEGIN PRIVATE KEY-----\\n...",        # PEM, or Alipay's bare base64
      "alipay_public_key_pem": "-----BEGIN PUBLIC KEY-----\\n...",       # Alipay's key, not ours
      "notify_url": "https://<api>/payments/alipay/notify",
      "gateway": "https://openapi.alipay.com/gateway.do"               # optional
    }

Neither the secret nor anything derived from it is logged; a malformed secret raises `SecretConfigError`
naming only the fields at fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.core.config import Env, optional_env
from shared.core.errors import ProviderNotConfigured

if TYPE_CHECKING:
    from shared.payments.adapters.alipay import AlipayConfig
    from shared.payments.adapters.wechatpay import WechatPayConfig

MAX_AGE_S = 300
ConfigT = TypeVar("ConfigT", bound=BaseModel)

# secret name -> (dict Powertools cached, config built from it): rebuilt only when Powertools refetches
_built: dict[str, tuple[object, BaseModel]] = {}


class SecretConfigError(ProviderNotConfigured):
    """The secret is missing or malformed. The message names fields, never values.
    A provider without its secret is not configured: 503 `provider_not_configured`, never a sandbox."""


def _load(env_name: str, notify_path: str, model: type[ConfigT]) -> ConfigT:
    from aws_lambda_powertools.utilities import parameters

    name = optional_env(env_name)
    if not name:
        raise SecretConfigError(f"environment variable {env_name} is not set")
    try:
        raw: Any = parameters.get_secret(name, transform="json", max_age=MAX_AGE_S)
    except parameters.TransformParameterError:
        raise SecretConfigError(f"secret behind {env_name} is not JSON") from None
    public = (optional_env(Env.PUBLIC_API_URL) or "").strip().rstrip("/")
    cache_key = f"{name}|{public}"
    cached = _built.get(cache_key)
    if cached is not None and cached[0] is raw and isinstance(cached[1], model):
        return cached[1]
    if not isinstance(raw, dict):
        raise SecretConfigError(f"secret behind {env_name} is not a JSON object")
    values = dict(raw)
    if public:
        values["notify_url"] = public + notify_path
    try:
        config = model.model_validate(values)
    except ValidationError as exc:
        fields = sorted(
            {".".join(str(part) for part in error["loc"]) + f" ({error['type']})" for error in exc.errors()}
        )
        raise SecretConfigError(f"secret behind {env_name} is invalid: {', '.join(fields)}") from None
    _built[cache_key] = (raw, config)
    return config


def wechatpay_config() -> WechatPayConfig:
    from shared.payments.adapters.wechatpay import WechatPayConfig

    return _load(Env.WECHATPAY_SECRET_ARN, "/payments/wechatpay/notify", WechatPayConfig)


def alipay_config() -> AlipayConfig:
    from shared.payments.adapters.alipay import AlipayConfig

    return _load(Env.ALIPAY_SECRET_ARN, "/payments/alipay/notify", AlipayConfig)


def clear_cache() -> None:
    """Tests (and a forced rotation) drop both our built configs and Powertools' cached secrets."""
    from aws_lambda_powertools.utilities import parameters

    _built.clear()
    parameters.clear_caches()
