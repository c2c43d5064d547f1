"""Create the declaration's AWS resources in moto: table, queues, topics, secrets, functions, workflows,
and the Cognito pool with the demo users. Every loop runs over the declaration; nothing is named here
except the local prefix and the demo users."""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from typing import Any

from infra import plan, workflows
from infra.constructs.grants import parse_grant
from infra.declaration import Declaration, create_table_request, function_arn_placeholder, queue_url_placeholders
from shared.core.config import FUNCTION_SETTINGS, Env, FunctionEnvironment, Settings, tunables
from shared.core.roles import ROLES, Role

PREFIX = "order24"
DEMO_USERS: tuple[tuple[str, str, Role], ...] = (
    ("shopper1", "Shopper1!local", Role.SHOPPER),
    ("shopper2", "Shopper2!local", Role.SHOPPER),
    ("merchant1", "Merchant1!local", Role.MERCHANT),
    ("reviewer1", "Reviewer1!local", Role.REVIEWER),
    ("ops1", "Ops1!local", Role.OPS),
)


@dataclass
class Resources:
    prefix: str = PREFIX  # resource name prefix; tests use a unique one (moto's state is process-wide)
    table_name: str = ""
    table_arn: str = ""
    stream_arn: str | None = None
    queues: dict[str, str] = field(default_factory=dict)  # name -> url
    queue_arns: dict[str, str] = field(default_factory=dict)
    dlqs: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)  # name -> arn
    secrets: dict[str, str] = field(default_factory=dict)  # name -> arn
    functions: dict[str, str] = field(default_factory=dict)  # name -> arn
    state_machines: dict[str, str] = field(default_factory=dict)  # name -> arn
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    users: list[dict[str, str]] = field(default_factory=list)


def create_table(ddb: Any, decl: Declaration, res: Resources) -> None:
    # The same request the tests use, from the declaration (keys, GSIs with projections, stream).
    request = create_table_request(decl.table, f"{res.prefix}-{decl.table.logical_id.lower()}")
    desc = ddb.create_table(**request)["TableDescription"]
    res.table_name, res.table_arn = desc["TableName"], desc["TableArn"]
    res.stream_arn = desc.get("LatestStreamArn")


def create_queues(sqs: Any, decl: Declaration, res: Resources, visibility_timeout_s: int) -> None:
    for name, spec in plan.queue_plan(decl).items():
        dlq_url = sqs.create_queue(QueueName=f"{res.prefix}-{spec['dlq_name']}",
                                   Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = _queue_arn(sqs, dlq_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(spec["max_receive_count"])}
        url = sqs.create_queue(
            QueueName=f"{res.prefix}-{name}",
            Attributes={
                # AWS uses the declared visibility_timeout_s; locally a short one makes retries visible
                # in seconds instead of minutes.
                "VisibilityTimeout": str(visibility_timeout_s),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        res.queues[name] = url
        res.dlqs[name] = dlq_url
        res.queue_arns[name] = _queue_arn(sqs, url)


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def create_topics(sns: Any, decl: Declaration, res: Resources) -> None:
    for topic in decl.topics:
        res.topics[topic.name] = sns.create_topic(Name=f"{res.prefix}-{topic.name}")["TopicArn"]


def create_secrets(sm: Any, decl: Declaration, res: Resources) -> None:
    for secret in decl.secrets:
        # A generated secret gets its key now, as Secrets Manager generates one in AWS; partners' stay "{}".
        value = json.dumps({"key": secrets.token_urlsafe(48)}) if secret.generated else "{}"
        res.secrets[secret.name] = sm.create_secret(
            Name=f"{res.prefix}/{secret.name}", Description=secret.description, SecretString=value
        )["ARN"]


def _tiny_zip() -> bytes:
    # moto needs some code; the hook in moto_patches.install runs the real handler instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def create_functions(lam: Any, iam: Any, decl: Declaration, res: Resources) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=f"{res.prefix}-local", AssumeRolePolicyDocument=json.dumps(trust))
    role_arn = str(role["Role"]["Arn"])
    code = _tiny_zip()
    for fn in decl.functions:
        try:  # an earlier runtime in this process may have created it (moto's state outlives a runtime)
            res.functions[fn.name] = lam.get_function(FunctionName=fn.name)["Configuration"]["FunctionArn"]
            continue
        except lam.exceptions.ResourceNotFoundException:
            pass
        res.functions[fn.name] = lam.create_function(
            FunctionName=fn.name,  # the hook finds the handler by this name
            Runtime="python3.12",
            Role=role_arn,
            Handler=f"functions.{fn.name}.handler.handler",
            Code={"ZipFile": code},
            Description=fn.description[:256],
            Timeout=fn.timeout_s,
            MemorySize=fn.memory_mb,
        )["FunctionArn"]
    return role_arn


def substitutions(decl: Declaration, res: Resources) -> dict[str, str]:
    subs = {"TableName": res.table_name}
    subs.update({function_arn_placeholder(name): arn for name, arn in res.functions.items()})
    for name, url in res.queues.items():
        queue_key, dlq_key = queue_url_placeholders(name)
        subs[queue_key], subs[dlq_key] = url, res.dlqs[name]
    return subs


def create_state_machines(sfn: Any, decl: Declaration, res: Resources, role_arn: str) -> None:
    definitions = plan.state_machine_definitions(decl, substitutions(decl, res))
    # Throttle retries and requeue delays last minutes in AWS; locally they are cut to a second unless
    # LOCAL_WORKFLOW_TIMINGS=deployed (same states and attempt counts, see infra/workflows.local_timings).
    fast = os.environ.get("LOCAL_WORKFLOW_TIMINGS", "fast") != "deployed"
    for wf in decl.workflows:
        definition = workflows.local_timings(definitions[wf.name]) if fast else definitions[wf.name]
        res.state_machines[wf.name] = sfn.create_state_machine(
            name=f"{res.prefix}-{wf.name}",
            definition=json.dumps(definition),
            roleArn=role_arn,
            type=wf.kind,
        )["stateMachineArn"]


def create_cognito(idp: Any, res: Resources) -> None:
    pool = idp.create_user_pool(
        PoolName=f"{res.prefix}-users",
        Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": True, "RequireLowercase": True,
                                     "RequireNumbers": True, "RequireSymbols": True}},
    )["UserPool"]
    res.user_pool_id = pool["Id"]
    res.user_pool_client_id = idp.create_user_pool_client(
        UserPoolId=res.user_pool_id,
        ClientName=f"{res.prefix}-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    for role in ROLES:
        idp.create_group(UserPoolId=res.user_pool_id, GroupName=role)
    for username, password, role in DEMO_USERS:
        idp.admin_create_user(UserPoolId=res.user_pool_id, Username=username, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=res.user_pool_id, Username=username, Password=password,
                                    Permanent=True)
        idp.admin_add_user_to_group(UserPoolId=res.user_pool_id, Username=username, GroupName=role)
        res.users.append({"username": username, "password": password, "role": role})


def granted_variables(decl: Declaration, function: str) -> dict[str, tuple[str, str]]:
    """The resource variables `function` gets, as infra/constructs/compute.py gives them: variable -> (kind,
    resource name). The table's for every function; one per queue, workflow, topic and secret grant; our own
    API's URL where a partner's secret is granted (it builds callback URLs). AppConfig and SSM parameter grants
    have no local resource: without their variables the code reads its local fallback, as it always did."""
    fn = decl.function(function)
    found: dict[str, tuple[str, str]] = {decl.table.env_var: ("table", decl.table.logical_id)}
    # A grant naming a resource this declaration lacks (a test's partial declaration) gives nothing.
    variables = {
        "queue": {q.name: q.env_var for q in decl.queues},
        "workflow": {w.name: w.env_var for w in decl.workflows},
        "topic": {t.name: t.env_var for t in decl.topics},
        "secret": {s.name: s.env_var for s in decl.secrets},
    }
    partner_secrets = {s.name for s in decl.secrets if not s.generated}
    for grant in map(parse_grant, fn.grants):
        variable = variables.get(grant.kind, {}).get(grant.name or "")
        if variable is None:
            continue
        found[variable] = (grant.kind, grant.name or "")
        if grant.kind == "secret" and grant.name in partner_secrets:
            found[Env.PUBLIC_API_URL] = ("api", "public")
    return found


def declared_variables(decl: Declaration) -> frozenset[str]:
    """Every variable the declaration hands out per function: resources' and tunables'."""
    names = {decl.table.env_var, *(q.env_var for q in decl.queues), *(w.env_var for w in decl.workflows),
             *(t.env_var for t in decl.topics), *(s.env_var for s in decl.secrets)}
    names |= {str(e) for e in Env}
    names |= {alias for model in FUNCTION_SETTINGS.values() for alias in tunables(model)}
    return frozenset(names)


def function_environment(decl: Declaration, function: str, shared: dict[str, str]) -> FunctionEnvironment:
    """What `function` sees while it runs locally: its own resource variables (values from `shared`, the
    environment every function was given) and its own tunables; every other declared variable is hidden, so
    a function reading a resource it has no grant for fails here as it does in AWS."""
    values = {name: shared[name] for name in granted_variables(decl, function) if name in shared}
    values[Env.FUNCTION] = function
    own_tunables = set(tunables(FUNCTION_SETTINGS.get(function, Settings)))
    hidden = declared_variables(decl) - set(values) - own_tunables
    return FunctionEnvironment(values=values, hidden=frozenset(hidden))


def env_vars(decl: Declaration, res: Resources) -> dict[str, str]:
    """Every resource variable (the same names CDK sets from the declaration); each function sees only its
    own while it runs (`function_environment`)."""
    env = {decl.table.env_var: res.table_name}
    env.update({q.env_var: res.queues[q.name] for q in decl.queues})
    env.update({w.env_var: res.state_machines[w.name] for w in decl.workflows})
    env.update({t.env_var: res.topics[t.name] for t in decl.topics})
    env.update({s.env_var: res.secrets[s.name] for s in decl.secrets})
    return env
