"""Start and stop the whole local platform, in this process, from a declaration.

`start(decl, port, state_dir)` returns a `Runtime` whose `.stop()` ends everything; `python -m infra.local`
is a thin wrapper around it. moto runs in server mode on a thread of this process, so the Lambda hook
(`moto_patches.install`) can call the real handlers in-process for Step Functions tasks and SDK invokes.

One runtime per process at a time: moto's backends and `os.environ` are process-wide.

Readiness: the gateway answers `GET /health` with 503 `{"code": "starting", "pending": [...]}` until the
demo users and (unless `seed_catalog=False`) the whole demo catalog exist and stack.json is written;
seeding that misses any SKU fails the start (`seed.SeedingFailed`). `stack.json` holds sandbox private
keys: it is written owner-only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import shutil
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from infra.declaration import Declaration, StreamConsumer
from infra.local import extensions, moto_patches, plan, powertools_isolation, resources, seed
from infra.local.gateway import Gateway
from infra.local.invoker import FaultPlan, Handler, HandlerResolver, Invoker, import_handler, import_local_handler
from infra.local.jwt_auth import CognitoJwtAuthorizer
from infra.local.pollers import STREAM_CONSUMERS, ScheduleTimer, SqsPoller, StreamPoller, Worker
from shared.core import config

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_STATE_DIR = Path(".local")
# What `GET /health` waits for, in the order start() sets it up; stack.json last, so a client that saw 200
# can read it.
READINESS = ("users", "catalog", "stack.json")

log = logging.getLogger("infra.local")

Say = Callable[[str], None]


def print_line(line: str) -> None:
    print(f"[order24 local] {line}", flush=True)


def quiet_loggers() -> None:
    # moto's ASL interpreter logs every caught error at ERROR; werkzeug logs every request.
    for name in ("stepfunctions.parser", "moto.stepfunctions", "werkzeug", "moto", "botocore",
                 "aws_lambda_powertools"):
        logging.getLogger(name).setLevel(logging.CRITICAL if "stepfunctions" in name else logging.WARNING)


@dataclass
class Runtime:
    decl: Declaration
    state_dir: Path
    endpoint: str = ""
    api_url: str = ""
    region: str = REGION
    resources: resources.Resources = field(default_factory=resources.Resources)
    invoker: Invoker | None = None
    gateway: Gateway | None = None
    stack: dict[str, Any] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    started_s: float = 0.0
    _moto: Any = None
    _env: dict[str, str] = field(default_factory=dict)  # for handlers, applied once
    _function_envs: dict[str, config.FunctionEnvironment] = field(default_factory=dict)
    _env_before: dict[str, str | None] = field(default_factory=dict)
    _serving: bool = False
    _clients: dict[str, Any] = field(default_factory=dict)
    _pending: list[str] = field(default_factory=lambda: list(READINESS))
    _pending_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- for extensions and tests

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(  # type: ignore[call-overload]  # any service, by name
                service, endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=Config(retries={"mode": "standard", "max_attempts": 3}),
            )
        return self._clients[service]

    def set_env(self, name: str, value: str) -> None:
        """Give the handlers an env var. Only before serving: os.environ is never patched per invocation."""
        if self._serving:
            raise RuntimeError("set_env after the runtime started serving")
        self._env[name] = value

    def function_environment(self, function: str) -> config.FunctionEnvironment | None:
        """What `function` sees of the environment while it runs: its own resource variables and tunables,
        as its own Lambda would (None for a local-only function, a sandbox provider: it sees everything)."""
        if function not in {f.name for f in self.decl.functions}:
            return None
        found = self._function_envs.get(function)
        if found is None or not self._serving:
            found = resources.function_environment(self.decl, function, self._env)
            if self._serving and self.api_url:  # complete from here on: cache it
                self._function_envs[function] = found
        return found

    def scoped(self, resolver: HandlerResolver) -> HandlerResolver:
        """`resolver`, with each handler run inside its own function's environment (`function_environment`),
        and its settings validated as its cold start would."""
        local_only = {r.function for r in self.decl.local_only_routes} - {f.name for f in self.decl.functions}

        def resolve(function: str) -> Handler:
            local = function in local_only and resolver is import_handler
            handler = (import_local_handler if local else resolver)(function)
            if self.function_environment(function) is None:
                return handler
            with config.function_environment(self._environment_of(function)):
                config.function_settings(function)  # a bad tunable fails the import, as a cold start

            def run(event: Any, context: Any) -> Any:
                with config.function_environment(self._environment_of(function)):
                    return handler(event, context)

            return run

        return resolve

    def _environment_of(self, function: str) -> config.FunctionEnvironment:
        found = self.function_environment(function)
        assert found is not None
        return found

    def put_secret(self, name: str, value: dict[str, Any] | str) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        secret_arn = self.resources.secrets[name]
        self.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=text)

    def stats(self) -> dict[str, Any]:
        assert self.invoker is not None and self.gateway is not None
        return {
            "functions": self.invoker.stats(),
            "routes": self.gateway.stats()["requests"],
            "queues": {w.consumer: w.batches for w in self.workers if isinstance(w, SqsPoller)},
            "schedules": {w.rule: w.fired for w in self.workers if isinstance(w, ScheduleTimer)},
        }

    @property
    def stack_path(self) -> Path:
        return self.state_dir / "stack.json"

    def pending(self) -> list[str]:
        """What start() has not set up yet (`GET /health` is 503 until this is empty)."""
        with self._pending_lock:
            return list(self._pending)

    def mark_ready(self, part: str) -> None:
        with self._pending_lock:
            if part in self._pending:
                self._pending.remove(part)

    # -- lifecycle

    def _apply_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._env_before.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def quiesce(self) -> None:
        """Stop the gateway, pollers and timers, leaving moto up (e.g. to reset it). Idempotent."""
        self.stop_event.set()
        if self.gateway is not None:
            self.gateway.stop()
        for worker in self.workers:
            worker.join(timeout=3)

    def stop(self) -> None:
        """Stop the gateway, pollers, timers and moto; restore the environment. Idempotent."""
        self.quiesce()
        if self.invoker is not None:
            moto_patches.uninstall(self.invoker)
        if self._moto is not None:
            server = self._moto._server
            self._moto.stop()
            if server is not None:
                server.server_close()  # free the port now, not at garbage collection
            self._moto = None
        for name, value in self._env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._env_before.clear()
        _reset_shared_clients()


def pools_inherit_context() -> None:
    """A handler's thread pool (the sweeper's, the expiry finder's) runs each task in the submitting thread's
    context, so pool threads see the same function environment (config.function_environment) as the handler.
    In Lambda the whole process is the function's; locally every function shares this one. Idempotent."""
    if getattr(ThreadPoolExecutor.submit, "order24_context", False):
        return
    original = ThreadPoolExecutor.submit

    def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

    submit.order24_context = True  # type: ignore[attr-defined]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]


def _reset_shared_clients() -> None:
    try:
        from shared.core.aws import reset_clients
    except ImportError:
        return
    reset_clients()


def _wipe(state_dir: Path) -> None:
    # Only a directory we wrote before (it has stack.json) or an empty one is wiped.
    if state_dir.exists() and ((state_dir / "stack.json").exists() or not any(state_dir.iterdir())):
        shutil.rmtree(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds sandbox private keys


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, atomically.

    The file is created 0600 (before any byte is written) under a temporary name in the same directory,
    then renamed over `path`: a reader sees the old file or the whole new one, never a partial or
    world-readable one, whatever the umask."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode only ever loses bits to the umask; make it exact
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _interval(env: dict[str, str] | os._Environ[str], override: str | None, default: int) -> float:
    if override and env.get(override):
        return float(env[override])
    return float(default)


def start(
    decl: Declaration,
    port: int = 0,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    *,
    resolver: HandlerResolver = import_handler,
    seed_catalog: bool = True,
    say: Say = print_line,
    host: str = "127.0.0.1",
    prefix: str = resources.PREFIX,
    visibility_timeout_s: int | None = None,
) -> Runtime:
    """Bring the platform up; on any failure, tear down what was started and re-raise."""
    from moto.server import ThreadedMotoServer  # heavy; only the runtime needs it

    t0 = time.monotonic()
    # moto imports a service's backend on its first request; Step Functions' ASL interpreter alone
    # takes 1.5-4 s. Import it now, overlapping with the other services' set-up.
    preload = threading.Thread(target=_preload, name="preload", daemon=True)
    preload.start()
    log_line = say

    def say(line: str) -> None:  # type: ignore[no-redef]  # same contract, with the elapsed time
        log_line(f"{line}  [{time.monotonic() - t0:.1f}s]")

    state_dir = Path(state_dir)
    rt = Runtime(decl=decl, state_dir=state_dir, resources=resources.Resources(prefix=prefix))
    if not seed_catalog:
        rt.mark_ready("catalog")
    try:
        _wipe(state_dir)
        quiet_loggers()
        moto_patches.apply()  # what moto gets wrong (atomic DynamoDB writes, per-request overheads)
        powertools_isolation.apply()  # each handler thread sees its own HTTP request, as in its own Lambda
        pools_inherit_context()  # a handler's pool threads see its function environment
        config.reset_settings()  # each function reads its tunables at its (local) cold start
        # Powertools warns on every invocation that flushes no metric; locally that is only noise.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        for problem in check(decl):
            say(f"WARNING: {problem}")
        # Fake credentials first, so nothing in this process can reach real AWS.
        rt._apply_env({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        })
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        rt._moto = moto
        moto_port = moto.get_host_and_port()[1]
        rt.endpoint = f"http://127.0.0.1:{moto_port}"
        # MOTO_PORT tells moto's ASL interpreter where to call Lambda/DynamoDB back.
        rt._apply_env({"MOTO_PORT": str(moto_port), "AWS_ENDPOINT_URL": rt.endpoint})
        # Must precede create_state_machine: machines created before it cannot be executed.
        requests.post(f"{rt.endpoint}/moto-api/config",
                      json={"stepfunctions": {"execute_state_machine": True}}, timeout=10).raise_for_status()
        say(f"moto (AWS) on {rt.endpoint}")

        res = rt.resources
        resources.create_table(rt.client("dynamodb"), decl, res)
        say(f"dynamodb table {res.table_name} ({len(decl.table.indexes)} GSIs, stream "
            f"{'on' if res.stream_arn else 'off'})")
        visibility = visibility_timeout_s or int(os.environ.get("LOCAL_VISIBILITY_TIMEOUT_SECONDS") or 2)
        resources.create_queues(rt.client("sqs"), decl, res, visibility)
        say(f"sqs queues {', '.join(res.queues)} (+ DLQs, visibility {visibility}s locally)")
        resources.create_topics(rt.client("sns"), decl, res)
        resources.create_secrets(rt.client("secretsmanager"), decl, res)
        if decl.topics or decl.secrets:
            say(f"sns topics {', '.join(res.topics) or '-'}; secrets {', '.join(res.secrets) or '-'}")
        role_arn = resources.create_functions(rt.client("lambda"), rt.client("iam"), decl, res)

        rt.invoker = Invoker(decl, arns=res.functions, resolver=rt.scoped(resolver),
                             faults=FaultPlan.from_env(dict(os.environ), decl))
        moto_patches.install(rt.invoker)
        say(f"lambda functions {', '.join(res.functions)} (run in-process)")
        faults = rt.invoker.faults
        if faults.rate > 0:
            say(f"FAULT INJECTION: rate {faults.rate} on {', '.join(sorted(faults.functions))}")
        if faults.throttle_rate > 0:
            say(f"THROTTLE INJECTION: rate {faults.throttle_rate} ({', '.join(faults.throttle_kinds)}) on "
                f"{', '.join(sorted(faults.functions))}")
        resources.create_state_machines(rt.client("stepfunctions"), decl, res, role_arn)
        say(f"step functions {', '.join(res.state_machines) or '-'}")
        resources.create_cognito(rt.client("cognito-idp"), res)
        rt.mark_ready("users")
        say(f"cognito pool {res.user_pool_id}, client {res.user_pool_client_id}")

        rt._env.update(resources.env_vars(decl, res))
        rt._env.update({
            "POWERTOOLS_SERVICE_NAME": "order24",
            "POWERTOOLS_METRICS_NAMESPACE": "order24",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF blobs on stdout locally
            "USER_POOL_ID": res.user_pool_id,
            "USER_POOL_CLIENT_ID": res.user_pool_client_id,
            "ORDER24_SANDBOX": "1",  # the one sandbox switch (shared/core/config.py); never deployed
        })
        extra: dict[str, Any] = {}
        for extension in extensions.load():
            extra.update(extension(rt) or {})
        rt._apply_env(rt._env)  # once, before serving
        rt._serving = True
        _reset_shared_clients()

        authorizer = CognitoJwtAuthorizer(endpoint=rt.endpoint, region=REGION, pool_id=res.user_pool_id,
                                          client_id=res.user_pool_client_id)
        authorizer.load_keys()  # before serving: an unreadable JWKS fails the start, not the first request
        route_auth: dict[str, str] = {r.route_key: r.auth for r in (*decl.routes, *decl.local_only_routes)}
        invoker = rt.invoker
        rt.gateway = Gateway(
            routes=plan.route_table(decl),
            route_auth=route_auth,
            local_routes=decl.local_only_routes,
            invoke=lambda fn, event: invoker.invoke(fn, event, source="api"),
            authorizer=authorizer,
            stats=rt.stats,
            pending=rt.pending,
        )
        api_port = rt.gateway.serve(host, port)
        rt.api_url = f"http://{host}:{api_port}"
        # Callbacks (notify_url, Kuaidi100's) name our own gateway; known only now, before any worker runs.
        rt._env["PUBLIC_API_URL"] = rt.api_url
        rt._apply_env({"PUBLIC_API_URL": rt.api_url})
        say(f"gateway on {rt.api_url} ({len(decl.routes)} routes)")

        _start_workers(rt)
        warm = threading.Thread(target=_warm, args=(rt, say), name="warm", daemon=True)
        warm.start()

        if seed_catalog:
            _seed(rt, say)
            rt.mark_ready("catalog")
        warm.join(timeout=30)

        rt.stack = _stack(rt, extra)
        write_private(rt.stack_path, json.dumps(rt.stack, indent=2))
        rt.mark_ready("stack.json")
        rt.started_s = time.monotonic() - t0
        return rt
    except BaseException:
        rt.stop()
        raise


def stream_consumers(decl: Declaration) -> tuple[StreamConsumer, ...]:
    """The declaration's stream consumers; older declarations without the field fall back to
    `pollers.STREAM_CONSUMERS` (function names), for the functions they declare."""
    declared: tuple[StreamConsumer, ...] | None = getattr(decl, "stream_consumers", None)
    if declared is not None:
        return declared
    names = {f.name for f in decl.functions}
    return tuple(StreamConsumer(name) for name in STREAM_CONSUMERS if name in names)


def _preload() -> None:
    import importlib

    for module in ("moto.stepfunctions.parser.models", "moto.cognitoidp.models", "moto.awslambda.models"):
        importlib.import_module(module)


def check(decl: Declaration) -> list[str]:
    """References to functions the declaration does not declare (they would fail at the first event)."""
    names = {f.name for f in decl.functions}
    refs = [(f"queue {q.name} consumer", q.consumer) for q in decl.queues]
    refs += [(f"schedule {s.name}", s.function) for s in decl.schedules]
    refs += [(f"route {r.route_key}", r.function) for r in decl.routes]  # local-only: infra/local/<fn>.py
    refs += [("stream consumer", c.function) for c in stream_consumers(decl)]
    refs += [(f"workflow {w.name}", f) for w in decl.workflows for f in w.functions]
    return [f"{what} -> {fn}: no such function in the declaration" for what, fn in refs if fn not in names]


def _start_workers(rt: Runtime) -> None:
    assert rt.invoker is not None
    decl, res, invoke = rt.decl, rt.resources, rt.invoker.invoke
    for q in decl.queues:
        rt.workers.append(SqsPoller(
            sqs=rt.client("sqs"), queue_url=res.queues[q.name], queue_arn=res.queue_arns[q.name],
            region=rt.region, consumer=q.consumer, batch_size=q.batch_size, invoke=invoke, stop=rt.stop_event,
        ))
    for consumer in stream_consumers(decl):
        if res.stream_arn:
            rt.workers.append(StreamPoller(
                streams=rt.client("dynamodbstreams"), stream_arn=res.stream_arn, region=rt.region,
                consumer=consumer.function, batch_size=consumer.batch_size, max_retries=consumer.max_retries,
                invoke=invoke, stop=rt.stop_event,
            ))
    for s in decl.schedules:
        rt.workers.append(ScheduleTimer(
            rule=s.name, function=s.function,
            interval_s=_interval(os.environ, s.local_env_override, s.every_seconds),
            region=rt.region, account=ACCOUNT_ID, invoke=invoke, stop=rt.stop_event,
        ))
    for worker in rt.workers:
        worker.start()


def _warm(rt: Runtime, say: Say) -> None:
    # Import every handler now so the first request does not pay the ~0.8 s cold import.
    assert rt.invoker is not None
    missing = rt.invoker.warm(rt.invoker.functions)
    if missing:
        say(f"WARNING: handlers not importable yet: {', '.join(missing)}")


def _seed(rt: Runtime, say: Say) -> None:
    """Every demo SKU through POST /merchant/skus as the demo merchant; raises seed.SeedingFailed otherwise."""
    merchant = next((u for u in rt.resources.users if u["role"] == "merchant"), None)
    if merchant is None:
        raise seed.SeedingFailed(["no demo merchant to seed the catalog as"])
    token = seed.login(rt.client("cognito-idp"), rt.resources.user_pool_client_id,
                       merchant["username"], merchant["password"])
    items = seed.load_catalog()
    created = seed.seed_catalog(rt.api_url, token, items)
    say(f"demo catalog: {len(items)} SKUs in the catalog ({created} created through POST /merchant/skus)")


def _stack(rt: Runtime, extra: dict[str, Any]) -> dict[str, Any]:
    res = rt.resources
    stack: dict[str, Any] = {
        "api_url": rt.api_url,
        "aws_endpoint_url": rt.endpoint,
        "region": rt.region,
        "account_id": ACCOUNT_ID,
        "user_pool_id": res.user_pool_id,
        "user_pool_client_id": res.user_pool_client_id,
        "users": res.users,
        "table_name": res.table_name,
        "table_stream_arn": res.stream_arn,
        "queues": res.queues,
        "dlqs": res.dlqs,
        "state_machines": res.state_machines,
        "topics": res.topics,
        "secrets": res.secrets,
        "functions": res.functions,
        "env": dict(rt._env),
        "pid": os.getpid(),
    }
    stack.update(extra)
    return stack
