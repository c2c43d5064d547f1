"""Every environment variable a function reads, declared once, and the typed settings of each function.

Two kinds of variables:

* `Env`: the names of the resources a function talks to (table, queues, workflows, topic, secrets, AppConfig)
  and of our own API. infra/declaration.py names each resource's variable with these members; CDK and the
  local runtime set a variable only on the functions whose grants allow the resource (infra/constructs/compute.py,
  infra/local/runtime.py). Read them with `env` (required) or `optional_env`.
* Tunables: timeouts, thread counts, caps, modes. Each is a field (alias = the variable, type, default) of
  one `Settings` group; each function's model (`FUNCTION_SETTINGS`) combines the groups of the modules it
  imports. The model is validated at cold start (`function_settings`, called by `instrumented`), and the code
  reads a group with `settings(Group)`: a function whose model lacks the group fails loudly (declare it here).

tests/unit/test_one_declaration.py fails when a variable is read by a module that a function imports but is
not declared (or not granted) for that function.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field


class Env(StrEnum):
    """Resource variables: set on a function by its grants (infra/declaration.py), never by hand."""

    TABLE_NAME = "TABLE_NAME"  # every function (the table grant decides read or write)
    INTAKE_QUEUE_URL = "INTAKE_QUEUE_URL"  # queue:intake:send
    PAID_QUEUE_URL = "PAID_QUEUE_URL"  # queue:paid:send
    EXPIRY_QUEUE_URL = "EXPIRY_QUEUE_URL"  # queue:expiry:send
    CHECKOUT_STATE_MACHINE_ARN = "CHECKOUT_STATE_MACHINE_ARN"  # workflow:checkout:start
    FULFIL_STATE_MACHINE_ARN = "FULFIL_STATE_MACHINE_ARN"  # workflow:fulfil:start
    NOTIFICATIONS_TOPIC_ARN = "NOTIFICATIONS_TOPIC_ARN"  # topic:notifications:publish
    WECHATPAY_SECRET_ARN = "WECHATPAY_SECRET_ARN"  # secret:wechatpay:read
    ALIPAY_SECRET_ARN = "ALIPAY_SECRET_ARN"  # secret:alipay:read
    LOGISTICS_SECRET_ARN = "LOGISTICS_SECRET_ARN"  # secret:logistics:read
    DIGITAL_PROVIDER_SECRET_ARN = "DIGITAL_PROVIDER_SECRET_ARN"  # secret:digital_provider:read
    CURSOR_SECRET_ARN = "CURSOR_SECRET_ARN"  # secret:cursor:read
    APPCONFIG_APPLICATION = "APPCONFIG_APPLICATION"  # appconfig:<name>:read (the three together)
    APPCONFIG_ENVIRONMENT = "APPCONFIG_ENVIRONMENT"
    APPCONFIG_PROFILE = "APPCONFIG_PROFILE"
    # Our own API's base URL, on every function that holds a partner's secret (it builds callback URLs).
    PUBLIC_API_URL = "PUBLIC_API_URL"
    # The declared function this environment belongs to (set by CDK and the local runtime).
    FUNCTION = "ORDER24_FUNCTION"


# ---------------------------------------------------------------- reading variables

@dataclass(frozen=True)
class FunctionEnvironment:
    """What one function sees of the process environment: the local runtime runs every function in one
    process, and gives each, while it runs, only its own resource variables and tunables, as its own Lambda
    environment would (so a missing grant fails locally as it does in AWS). In AWS it is never set."""

    values: Mapping[str, str]  # the function's own resource variables
    hidden: frozenset[str]  # declared variables this function does not get


_environment: ContextVar[FunctionEnvironment | None] = ContextVar("order24_function_environment", default=None)


@contextmanager
def function_environment(environment: FunctionEnvironment) -> Iterator[None]:
    token = _environment.set(environment)
    try:
        yield
    finally:
        _environment.reset(token)


def optional_env(name: str) -> str | None:
    """The variable, or None when this function does not have it."""
    environment = _environment.get()
    if environment is not None:
        if name in environment.values:
            return environment.values[name]
        if name in environment.hidden:
            return None
    return os.environ.get(name)


def env(name: str, default: str | None = None) -> str:
    value = optional_env(name)
    if value is None:
        value = default
    if value is None:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return env(Env.TABLE_NAME)


SANDBOX_SWITCH = "ORDER24_SANDBOX"


def sandbox_providers() -> bool:
    """Whether in-process sandbox providers stand in for WeChat Pay, Alipay, the card provider, Kuaidi100
    and the digital provider. The ONE switch: only the local runtime (infra/local) and tests set it; no
    deployed function has it (tests/infra asserts so), and the layer does not even ship `shared.sandbox`.
    Off, a provider that is not configured raises `ProviderNotConfigured`, never falls back to a sandbox."""
    return optional_env(SANDBOX_SWITCH) == "1"


def public_api_url() -> str:
    """Our own API's base URL (env PUBLIC_API_URL: the HttpApi's URL in AWS, the gateway's locally), from
    which partner callback URLs are built. Missing, nothing is subscribed to a guessed address."""
    url = (optional_env(Env.PUBLIC_API_URL) or "").strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        from shared.core.errors import ProviderNotConfigured

        raise ProviderNotConfigured("PUBLIC_API_URL is not set: callback URLs cannot be built")
    return url


# ---------------------------------------------------------------- tunables

class Settings(BaseModel):
    """A group of tunables: each field's alias is its environment variable."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class StockSettings(Settings):  # shared/catalog/store.py
    stock_buckets: int = Field(4, alias="STOCK_BUCKETS", description="Stock buckets per SKU (clamped 1-90)")


class IntakeSettings(Settings):  # shared/orders/intake.py
    placed_redrive_after_seconds: int = Field(
        90, alias="PLACED_REDRIVE_AFTER_SECONDS",
        description="The sweeper re-enqueues an order still PLACED after this")


class CheckoutSettings(Settings):  # shared/orders/checkout.py
    payment_timeout_seconds: int = Field(1800, alias="PAYMENT_TIMEOUT_SECONDS",
                                         description="An unpaid order expires (stock released) after this")


class RedriveSettings(Settings):  # shared/orders/lifecycle.py, shared/review/service.py, shared/payments/service.py
    fulfil_redrive_after_seconds: int = Field(300, alias="FULFIL_REDRIVE_AFTER_SECONDS",
                                              description="The sweeper re-drives a stalled fulfilment after this")


class LifecycleSettings(RedriveSettings):  # shared/orders/lifecycle.py
    requeue_patience_seconds: int = Field(
        420, alias="REQUEUE_PATIENCE_SECONDS",
        description="A requeued order counts as moving this long: requeue delay (120 s) + an execution (300 s)")
    sweep_threads: int = Field(32, alias="SWEEP_THREADS", description="Orders the sweeper processes at once")


class ExpirySettings(Settings):  # shared/orders/expiry.py
    expiry_inline_max: int = Field(100, alias="EXPIRY_INLINE_MAX",
                                   description="Due orders the sweeper expires itself; above, it fans out")
    expiry_find_threads: int = Field(16, alias="EXPIRY_FIND_THREADS", description="Shards the finder reads at once")


class CompletionSettings(Settings):  # shared/orders/completion.py
    return_window_seconds: int = Field(7 * 24 * 3600, alias="RETURN_WINDOW_SECONDS",
                                       description="DELIVERED becomes COMPLETED after this")
    complete_recheck_seconds: int = Field(3600, ge=1, alias="COMPLETE_RECHECK_SECONDS",
                                          description="A delivered order whose window closed with an open after-sales "
                                                      "case checks again after this")


class AfterSalesSettings(Settings):  # shared/aftersales/service.py
    after_sales_window_seconds: int = Field(
        15 * 24 * 3600, alias="AFTER_SALES_WINDOW_SECONDS",
        description="A COMPLETED order still takes after-sales cases for this long after it completed")
    merchant_reply_seconds: int = Field(
        48 * 3600, alias="AFTER_SALES_MERCHANT_REPLY_SECONDS",
        description="A merchant silent this long on a requested case is taken to agree (the MERCHANT timer)")
    receipt_check_seconds: int = Field(
        48 * 3600, alias="AFTER_SALES_RECEIPT_CHECK_SECONDS",
        description="After a return is received, the refund goes out unless the merchant raises a problem "
                    "within this (the MERCHANT timer on a RECEIVED case)")
    return_ship_seconds: int = Field(
        7 * 24 * 3600, alias="AFTER_SALES_RETURN_SHIP_SECONDS",
        description="An approved return not sent back within this closes (the RETURN_SHIP timer)")
    escalate_seconds: int = Field(
        7 * 24 * 3600, alias="AFTER_SALES_ESCALATE_SECONDS",
        description="A rejected case the shopper does not dispute within this closes (the ESCALATE timer)")
    case_refund_resume_seconds: int = Field(
        120, alias="AFTER_SALES_REFUND_RESUME_SECONDS",
        description="A case refund not settled this long after its grant is sent again (the REFUND timer)")
    dispute_lease_seconds: int = Field(
        900, alias="AFTER_SALES_DISPUTE_LEASE_SECONDS",
        description="An arbiter's claim on a dispute lasts this (shared/aftersales/disputes.py)")
    # returns (shared/aftersales/returns.py)
    return_shipping_compensation_fen: int = Field(
        12_00, ge=0, alias="RETURN_SHIPPING_COMPENSATION_FEN",
        description="The platform pays a received no-reason return's first-weight return shipping: this many fen "
                    "(the cap; 0 pays none)")
    return_addresses: str = Field(
        "", alias="AFTER_SALES_RETURN_ADDRESSES",
        description='Shop return addresses, JSON {"<shop_id>": {recipient, phone, province, city, line}}; a shop '
                    "without one gets the demo shop's address at its warehouse")


class RiskSettings(Settings):  # shared/risk/flags.py, shared/risk/store.py (and the flash refunds' flags)
    risk_flags_max_age_seconds: int = Field(60, alias="RISK_FLAGS_MAX_AGE_SECONDS",
                                            description="How long the flags document is cached")
    risk_flags_file: str | None = Field(None, alias="RISK_FLAGS_FILE",
                                        description="The local flags document (without AppConfig)")
    risk_mode: str | None = Field(None, alias="RISK_MODE",
                                  description="Overrides the flags' risk_mode, without AppConfig only")
    velocity_saturation: int = Field(600, alias="VELOCITY_SATURATION",
                                     description="Velocity count above which a key is memoised as saturated")
    risk_block_cache_seconds: int = Field(60, alias="RISK_BLOCK_CACHE_SECONDS",
                                          description="How long block lists are cached per container")


class ReviewSettings(RedriveSettings):  # shared/review/service.py
    review_manual_above_fen: int = Field(5_000_00, alias="REVIEW_MANUAL_ABOVE_FEN",
                                         description="Orders above this amount go to a human reviewer")
    review_lease_seconds: int = Field(300, alias="REVIEW_LEASE_SECONDS", description="A reviewer's claim lasts this")


# One model per declared function: the groups of the modules its handler imports (directly or not).
class ApiCatalogSettings(StockSettings): ...
class ApiMerchantSettings(StockSettings, AfterSalesSettings): ...
class ApiOpsSettings(AfterSalesSettings): ...
class ApiOrdersSettings(StockSettings, IntakeSettings, CheckoutSettings, LifecycleSettings, ExpirySettings,
                        CompletionSettings, AfterSalesSettings, RiskSettings): ...  # RiskSettings: flash refunds
class ApiReviewSettings(StockSettings, CheckoutSettings, ReviewSettings): ...
class CheckoutStarterSettings(Settings): ...
class DeliverSettings(StockSettings, CheckoutSettings): ...
class ExpiryWorkerSettings(StockSettings, IntakeSettings, CheckoutSettings, LifecycleSettings, ExpirySettings,
                           CompletionSettings): ...
class FulfilStarterSettings(Settings): ...
class IntakeFunctionSettings(StockSettings, IntakeSettings): ...
class LogisticsNotifySettings(CompletionSettings, AfterSalesSettings): ...  # return parcels: aftersales/returns.py
class NotifierSettings(Settings): ...
class PaySettings(StockSettings, CheckoutSettings, RedriveSettings): ...
class PaymentNotifySettings(StockSettings, CheckoutSettings, RedriveSettings): ...
class ReserveSettings(StockSettings, CheckoutSettings): ...
class ReviewAutoSettings(StockSettings, CheckoutSettings, ReviewSettings): ...
class RiskFunctionSettings(RiskSettings): ...
class ShipSettings(StockSettings, CheckoutSettings): ...
class SweeperSettings(StockSettings, IntakeSettings, CheckoutSettings, LifecycleSettings, ExpirySettings,
                      CompletionSettings, AfterSalesSettings): ...  # the case timers (aftersales/timers.py)


FUNCTION_SETTINGS: dict[str, type[Settings]] = {
    "api_catalog": ApiCatalogSettings,
    "api_merchant": ApiMerchantSettings,
    "api_ops": ApiOpsSettings,
    "api_orders": ApiOrdersSettings,
    "api_review": ApiReviewSettings,
    "checkout_starter": CheckoutStarterSettings,
    "deliver": DeliverSettings,
    "expiry_worker": ExpiryWorkerSettings,
    "fulfil_starter": FulfilStarterSettings,
    "intake": IntakeFunctionSettings,
    "logistics_notify": LogisticsNotifySettings,
    "notifier": NotifierSettings,
    "pay": PaySettings,
    "payment_notify": PaymentNotifySettings,
    "reserve": ReserveSettings,
    "review_auto": ReviewAutoSettings,
    "risk": RiskFunctionSettings,
    "ship": ShipSettings,
    "sweeper": SweeperSettings,
}

S = TypeVar("S", bound=Settings)


class UndeclaredSettings(RuntimeError):
    """A function read a settings group its model does not declare."""


def tunables(model: type[Settings]) -> dict[str, Any]:
    """A model's variables and their defaults (what CDK sets)."""
    return {field.alias: field.default for field in model.model_fields.values() if field.alias}


@lru_cache(maxsize=64)
def _aliases(model: type[Settings]) -> tuple[str, ...]:
    return tuple(tunables(model))


def default_of(model: type[Settings], field: str) -> Any:
    return model.model_fields[field].default


@lru_cache(maxsize=256)
def _validated(model: type[S], values: tuple[tuple[str, str], ...]) -> S:
    return model.model_validate(dict(values))


def _load(model: type[S]) -> S:
    # Keyed on the variables' current values: read at each call (cheap), validated once per distinct value.
    values = tuple((alias, value) for alias in _aliases(model) if (value := optional_env(alias)) is not None)
    return cast(S, _validated(model, values))


def current_function() -> str | None:
    return optional_env(Env.FUNCTION)


_cold_start: dict[str, Settings] = {}  # function -> its settings, read once (a Lambda's environment is fixed)


def function_settings(function: str | None = None) -> Settings | None:
    """The function's whole settings model, validated once per process (a bad value raises pydantic's
    ValidationError at cold start: `instrumented` calls this at import). None outside a declared function."""
    name = function or current_function()
    model = FUNCTION_SETTINGS.get(name or "")
    if name is None or model is None:
        return None
    found = _cold_start.get(name)
    if found is None:
        found = _cold_start[name] = _load(model)
    return found


def reset_settings() -> None:
    """Forget the settings read so far (a new local runtime reads its functions' anew)."""
    _cold_start.clear()


def settings(group: type[S]) -> S:
    """The running function's tunables of `group`, from its settings read at cold start. Outside a declared
    function (unit and integration tests calling the code directly), the group alone, read now."""
    name = current_function()
    if name is None:
        return _load(group)
    loaded = function_settings(name)
    if not isinstance(loaded, group):
        model = FUNCTION_SETTINGS.get(name)
        raise UndeclaredSettings(
            f"function {name} reads {group.__name__} but its settings model "
            f"{model.__name__ if model else '(none)'} does not include it: add {group.__name__} to its model "
            "in shared/core/config.py")
    return loaded
