"""Names of the resources a function talks to, read from the environment on first use.

Both runtimes set the same variables: CDK from the declaration, the local runtime from `.local`.
"""

from __future__ import annotations

import os


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return env("TABLE_NAME")


def int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


SANDBOX_SWITCH = "ORDER24_SANDBOX"


def sandbox_providers() -> bool:
    """Whether in-process sandbox providers stand in for WeChat Pay, Alipay, the card provider, Kuaidi100
    and the digital provider. The ONE switch: only the local runtime (infra/local) and tests set it; no
    deployed function has it (tests/infra asserts so), and the layer does not even ship `shared.sandbox`.
    Off, a provider that is not configured raises `ProviderNotConfigured`, never falls back to a sandbox."""
    return os.environ.get(SANDBOX_SWITCH) == "1"


def public_api_url() -> str:
    """Our own API's base URL (env PUBLIC_API_URL: the HttpApi's URL in AWS, the gateway's locally), from
    which partner callback URLs are built. Missing, nothing is subscribed to a guessed address."""
    url = os.environ.get("PUBLIC_API_URL", "").strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        from shared.core.errors import ProviderNotConfigured

        raise ProviderNotConfigured("PUBLIC_API_URL is not set: callback URLs cannot be built")
    return url
