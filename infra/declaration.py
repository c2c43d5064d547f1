"""The one declaration of the platform: tables, queues, topics, functions, routes, schedules, workflows.

The CDK app (`infra/stack.py`) and the local runtime (`infra/local/`) both build from this module,
and `tests/infra/test_declaration_matches_template.py` proves the two agree.
Adding a function, route, queue or workflow happens here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from infra import workflows
from shared.api.declaration import ROUTES, Auth, Route
from shared.core.config import FUNCTION_SETTINGS, Env, Settings, tunables

__all__ = ["DECLARATION", "ROUTES", "Auth", "Declaration", "Env", "Function", "Route"]


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str
    projection: Literal["KEYS_ONLY", "ALL"] = "KEYS_ONLY"


@dataclass(frozen=True)
class Table:
    logical_id: str
    env_var: str
    pk: str = "PK"
    sk: str = "SK"
    indexes: tuple[Index, ...] = ()
    stream: bool = False


@dataclass(frozen=True)
class Queue:
    name: str
    env_var: str
    consumer: str
    batch_size: int = 10
    max_batching_window_s: int = 0
    # A throttled consumer invocation counts as a receive (Lambda's SQS pollers received the batch), so this is
    # sized to ride out a throttle storm, not a bug: at a 30% throttle rate 10 receives leave 0.3**10 = 6e-6 of
    # messages for the DLQ, where 5 left 2.4e-3 (one order in ~400). A real defect still reaches the DLQ in
    # 10 visibility timeouts.
    max_receive_count: int = 10
    visibility_timeout_s: int = 60
    max_concurrency: int = 1000


@dataclass(frozen=True)
class Topic:
    name: str
    env_var: str


@dataclass(frozen=True)
class Function:
    name: str  # folder under functions/, handler is functions/<name>/handler.py:handler
    description: str
    memory_mb: int = 256
    timeout_s: int = 10
    # Grants, least privilege: "table:read", "table:write", "queue:<name>:send",
    # "workflow:<name>:start", "topic:<name>:publish", "secret:<name>:read", "param:<name>:read".
    grants: tuple[str, ...] = ()
    tracing: bool = False
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Schedule:
    name: str
    function: str
    every_seconds: int  # AWS: rate(n minutes); locally overridable (see infra/local)
    local_env_override: str | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    env_var: str
    # Builds the ASL (JSONPath) with ${...} placeholders; see `substitutions`.
    definition: Callable[[], dict[str, Any]]
    functions: tuple[str, ...]
    kind: Literal["EXPRESS", "STANDARD"] = "EXPRESS"
    direct_table_access: bool = False  # the ASL itself updates the table (DynamoDB integration)
    # Queues the ASL sends to (sqs:sendMessage), each with its DLQ: ${<Name>QueueUrl}, ${<Name>DlqUrl}.
    queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamConsumer:
    """A function fed by the table's DynamoDB stream (the outbox: publish after commit)."""

    function: str
    batch_size: int = 100
    max_retries: int = 5


@dataclass(frozen=True)
class Secret:
    name: str
    env_var: str
    description: str
    # True: a key we own, generated as {"key": <64 random chars>} by Secrets Manager (CDK) or the local
    # runtime; False: a partner's credentials, which ops paste in (runbook: 'Fill the secrets').
    generated: bool = False


@dataclass(frozen=True)
class Declaration:
    table: Table
    queues: tuple[Queue, ...]
    topics: tuple[Topic, ...]
    functions: tuple[Function, ...]
    routes: tuple[Route, ...]
    schedules: tuple[Schedule, ...]
    workflows: tuple[Workflow, ...]
    secrets: tuple[Secret, ...] = ()
    stream_consumers: tuple[StreamConsumer, ...] = ()
    # Served by the local runtime only (sandbox providers); the function is a module under infra/local/.
    # The production DECLARATION has none: infra/local/sandbox_routes.py adds them for the local runtime.
    local_only_routes: tuple[Route, ...] = field(default=())

    def function(self, name: str) -> Function:
        return next(f for f in self.functions if f.name == name)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)

    def workflow(self, name: str) -> Workflow:
        return next(w for w in self.workflows if w.name == name)


TABLE = Table(
    logical_id="Orders",
    env_var=Env.TABLE_NAME,
    indexes=(
        Index("by_shopper", "GSI1PK", "GSI1SK"),  # a shopper's orders, newest first
        Index("by_shop_day", "GSI2PK", "GSI2SK"),  # a merchant's orders by day
        Index("by_due", "GSI3PK", "GSI3SK"),  # sharded, sparse: expiry, review queue, completion, re-drive
        Index("by_category", "GSI4PK", "GSI4SK", projection="ALL"),  # the public catalog
    ),
    stream=True,
)

QUEUES = (
    Queue("intake", Env.INTAKE_QUEUE_URL, consumer="checkout_starter", batch_size=10, max_batching_window_s=1),
    # No batching window on the paid queue: a paid digital order must complete within 2 s, and a 1 s window
    # would spend half of that waiting for company at light traffic. At peak the batches fill at once anyway.
    Queue("paid", Env.PAID_QUEUE_URL, consumer="fulfil_starter", batch_size=10, max_batching_window_s=0),
    # Payment expiry at sale speed (shared/orders/expiry.py): the sweeper finds due orders and sends their ids,
    # 100 per message; a batch of 10 messages is 1,000 expiries. Visibility = 6 x the consumer's timeout, as
    # AWS advises for SQS mappings; a message that keeps failing reaches the DLQ (alarm), while its orders,
    # still in the `by_due` index, are found again by the next sweep anyway.
    Queue("expiry", Env.EXPIRY_QUEUE_URL, consumer="expiry_worker", batch_size=10, max_batching_window_s=0,
          visibility_timeout_s=360),
)

TOPICS = (Topic("notifications", Env.NOTIFICATIONS_TOPIC_ARN),)

FUNCTIONS = (
    Function("api_catalog", "Public catalog, health and the OpenAPI document",
             grants=("table:read", "secret:cursor:read")),
    Function("api_merchant", "Merchant SKU management and after-sales decisions (an approval refunds)",
             grants=("table:read", "table:write", "secret:cursor:read", "secret:wechatpay:read",
                     "secret:alipay:read")),
    Function(
        "intake",
        "POST /orders: validate, price, one conditional write, enqueue",
        memory_mb=512,
        grants=("table:read", "table:write", "queue:intake:send"),
    ),
    Function(
        "api_orders",
        "Order reads, timeline and cancellation (a paid cancel refunds through the payment provider)",
        # secret:logistics:read: a return parcel is subscribed to tracking (shared/aftersales/returns.py);
        # appconfig:risk: the flash refunds' rules are a feature of the risk flags document (aftersales/flash.py)
        grants=("table:read", "table:write", "queue:intake:send", "secret:cursor:read", "secret:wechatpay:read",
                "secret:alipay:read", "secret:logistics:read", "appconfig:risk:read"),
    ),
    Function(
        "checkout_starter",
        "Intake queue consumer: starts one checkout Express execution per order",
        grants=("workflow:checkout:start",),
    ),
    Function(
        "reserve",
        "Checkout step: reserve stock in buckets and move the order to AWAITING_PAYMENT",
        grants=("table:read", "table:write"),
    ),
    Function(
        "sweeper",
        "Timers: expire unpaid orders (or fan them out to the expiry queue), re-drive stuck ones, complete "
        "delivered ones",
        memory_mb=1024,  # at sale speed the finder makes ~8,000 AWS calls a run: CPU (docs/capacity.md s8)
        timeout_s=60,
        grants=("table:read", "table:write", "queue:intake:send", "queue:paid:send", "queue:expiry:send",
                "secret:wechatpay:read", "secret:alipay:read"),
    ),
    Function(
        "expiry_worker",
        "Expiry queue consumer: expires due unpaid orders in parallel batches and releases their stock",
        memory_mb=1024,  # one vCPU-share per ~1,000 expiries a batch: client-side CPU bounds it (capacity s8)
        timeout_s=60,
        grants=("table:read", "table:write"),
    ),
    Function(
        "pay",
        "POST /orders/{id}/pay: create (or return) the payment intent with the provider",
        # queue:paid:send: a card charge answers synchronously and is recorded like a callback (PAID, enqueue).
        grants=("table:read", "table:write", "queue:paid:send", "secret:wechatpay:read", "secret:alipay:read"),
    ),
    Function(
        "payment_notify",
        "Signed payment callbacks: verify, check amount and merchant, PAID, enqueue",
        grants=("table:read", "table:write", "queue:paid:send", "secret:wechatpay:read", "secret:alipay:read"),
    ),
    Function(
        "fulfil_starter",
        "Paid queue consumer: starts one fulfil Express execution per order",
        grants=("workflow:fulfil:start",),
    ),
    Function(
        "risk",
        "Checkout step: explainable fraud score (velocity, history, block lists, regions)",
        grants=("table:read", "table:write", "appconfig:risk:read"),
    ),
    Function(
        "review_auto",
        "Fulfil step: automatic review (ad law, special industries, amount tiers)",
        memory_mb=512,
        grants=("table:read", "table:write", "secret:wechatpay:read", "secret:alipay:read"),
    ),
    Function(
        "api_review",
        "Human review queue: list, claim (lease), approve, reject with refund",
        grants=("table:read", "table:write", "workflow:fulfil:start", "secret:wechatpay:read",
                "secret:alipay:read", "secret:cursor:read"),
    ),
    Function(
        "deliver",
        "Fulfil step: digital delivery through the provider adapter, partial refunds, give-up refunds",
        grants=("table:read", "table:write", "secret:wechatpay:read", "secret:alipay:read",
                "secret:digital_provider:read"),
    ),
    Function(
        "ship",
        "Fulfil step: warehouse allocation, shipment, tracking subscription",
        # The payment secrets: no warehouse holding the order fails it and refunds in full (shipment.ship).
        grants=("table:read", "table:write", "secret:logistics:read", "secret:wechatpay:read",
                "secret:alipay:read"),
    ),
    Function(
        "logistics_notify",
        "Signed Kuaidi100 and KDNiao tracking callbacks",
        grants=("table:read", "table:write", "secret:logistics:read"),
    ),
    Function(
        "notifier",
        "Outbox: turns committed order changes into stored notifications and SNS messages",
        grants=("table:read", "table:write", "topic:notifications:publish"),
    ),
    Function("api_ops", "Ops views: callbacks stored for inspection, trouble flags, rejected orders; dispute "
             "arbitration (a decision refunds); support tickets (assign, close)",
             grants=("table:read", "table:write", "secret:cursor:read", "secret:wechatpay:read",
                     "secret:alipay:read")),
)

# ROUTES (method, path, function, auth, roles, operationId, tags) are declared in shared/api/declaration.py:
# the handlers register from them at run time, and the Lambda layer ships shared/ only.

SCHEDULES = (Schedule("sweep", "sweeper", every_seconds=60, local_env_override="SWEEP_INTERVAL_SECONDS"),)

WORKFLOWS = (
    Workflow(
        "checkout",
        Env.CHECKOUT_STATE_MACHINE_ARN,
        definition=workflows.checkout,
        functions=("risk", "reserve"),
        direct_table_access=True,
        queues=("intake",),  # a throttled order goes back to the intake queue (infra/workflows.py requeue)
    ),
    Workflow(
        "fulfil",
        Env.FULFIL_STATE_MACHINE_ARN,
        definition=workflows.fulfil,
        functions=("review_auto", "deliver", "ship"),
        direct_table_access=True,  # the requeue counter on the order
        queues=("paid",),
    ),
)

SECRETS = (
    Secret("wechatpay", Env.WECHATPAY_SECRET_ARN, "WeChat Pay v3 merchant keys and platform certificates"),
    Secret("alipay", Env.ALIPAY_SECRET_ARN, "Alipay app private key and Alipay public key"),
    Secret("logistics", Env.LOGISTICS_SECRET_ARN, "Kuaidi100 key and salt, KDNiao business id and app key"),
    Secret("digital_provider", Env.DIGITAL_PROVIDER_SECRET_ARN,
           "Digital provider base_url (https) and HMAC signing_secret (shared/fulfilment/providers.py)"),
    Secret("cursor", Env.CURSOR_SECRET_ARN, "HMAC-SHA256 key that signs page cursors (shared/core/paging.py)",
           generated=True),
)

STREAM_CONSUMERS = (StreamConsumer("notifier"),)

DECLARATION = Declaration(
    table=TABLE,
    queues=QUEUES,
    topics=TOPICS,
    functions=FUNCTIONS,
    routes=ROUTES,
    schedules=SCHEDULES,
    workflows=WORKFLOWS,
    secrets=SECRETS,
    stream_consumers=STREAM_CONSUMERS,
)


def settings_model(function: str) -> type[Settings]:
    """The function's tunables (shared/core/config.py FUNCTION_SETTINGS): names, types, defaults. A function
    without a model reads none (tests/unit/test_one_declaration.py requires one for each declared function)."""
    return FUNCTION_SETTINGS.get(function, Settings)


def function_environment(function: str) -> dict[str, str]:
    """The variables every deployment of `function` gets besides its grants': its name (which settings model
    it validates) and its tunables at their declared defaults."""
    values = {Env.FUNCTION.value: function}
    values.update({name: str(default) for name, default in tunables(settings_model(function)).items()
                   if default is not None})
    return values


def function_arn_placeholder(function: str) -> str:
    """The ${...} name a workflow definition uses for a function's ARN."""
    return "Fn" + "".join(part.title() for part in function.split("_")) + "Arn"


def queue_url_placeholders(queue: str) -> tuple[str, str]:
    """The ${...} names a workflow definition uses for a queue's URL and its DLQ's URL."""
    stem = "".join(part.title() for part in queue.split("_"))
    return stem + "QueueUrl", stem + "DlqUrl"


def create_table_request(table: Table, table_name: str) -> dict[str, Any]:
    """boto3 `create_table` arguments for the declared table (used by the local runtime and tests)."""
    attributes = {table.pk, table.sk} | {name for index in table.indexes for name in (index.pk, index.sk)}
    request: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": table.pk, "KeyType": "HASH"}, {"AttributeName": table.sk, "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)],
    }
    if table.indexes:  # DynamoDB rejects an empty list
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.pk, "KeyType": "HASH"},
                              {"AttributeName": index.sk, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in table.indexes
        ]
    if table.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return request
