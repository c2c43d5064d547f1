"""The HTTP API: the declared routes only (local-only routes never reach API Gateway), Cognito JWT on every
route not declared public, JSON access logs and the stage throttle."""

from __future__ import annotations

import json

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as apigw_auth
from aws_cdk import aws_apigatewayv2_integrations as apigw_int
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import plan
from infra.constructs.audit import accept
from infra.constructs.auth import Auth
from infra.constructs.common import LOG_RETENTION, ack, pascal
from infra.declaration import Declaration

# Stage-wide defaults; the account quota (10k rps) is raised per region for peak (docs/capacity.md).
API_RATE_LIMIT = 10_000
API_BURST_LIMIT = 5_000
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "responseLength": "$context.responseLength",
}


class Api(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, declaration: Declaration,
        functions: dict[str, lambda_.Function], auth: Auth,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigw.HttpApi(self, "HttpApi", create_default_stage=False, description="order24 HTTP API")
        access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        accept(access_logs, "log_group")
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
            access_log_settings=_AccessLogs(
                apigw.LogGroupLogDestination(access_logs),
                apigw_v1.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        authorizer = apigw_auth.HttpJwtAuthorizer(
            "CognitoJwt",
            auth.user_pool.user_pool_provider_url,
            jwt_audience=[auth.client.user_pool_client_id],
        )
        routed = set(plan.route_table(declaration).values())
        integrations = {
            name: apigw_int.HttpLambdaIntegration(
                pascal(name) + "Integration", fn, payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0
            )
            for name, fn in functions.items()
            if name in routed
        }
        for r in declaration.routes:
            routes = self.http_api.add_routes(
                path=r.path,
                methods=[apigw.HttpMethod[r.method]],
                integration=integrations[r.function],
                authorizer=authorizer if r.auth == "jwt" else apigw.HttpNoneAuthorizer(),
            )
            if r.auth == "public":
                for route in routes:
                    ack(route, "AwsSolutions-APIG4",
                        f"{r.route_key} is public by declaration (auth='public'): no token by design.")


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    """IAccessLogSettings for the HTTP API stage (a jsii interface, so a small class, not a dict)."""

    def __init__(self, destination: apigw.IAccessLogDestination, fmt: apigw_v1.AccessLogFormat) -> None:
        self._destination = destination
        self._format = fmt

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format
