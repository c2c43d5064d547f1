"""The order24 stack: named constructs composed in dependency order, each built from `infra.declaration`.

Nothing here names a particular function, route, queue or workflow: add them to the declaration.
Context keys (all optional):
  order24:layer               built | shared-only | auto (see infra/layer.py)
  order24:allow-missing-code  true lets a function whose folder does not exist yet synth as a stub
                              that raises (tests only; a real synth fails loudly instead)
  order24:review_sla_minutes  the review-stall alarm's threshold (default 30)
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.constructs.api import Api
from infra.constructs.auth import Auth
from infra.constructs.common import pascal
from infra.constructs.compute import Functions
from infra.constructs.data import Data
from infra.constructs.grants import check_declaration
from infra.constructs.messaging import Messaging
from infra.constructs.monitoring import Monitoring
from infra.constructs.settings import Settings
from infra.constructs.state_machines import Workflows
from infra.constructs.triggers import Triggers
from infra.declaration import Declaration


class Order24Stack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, declaration: Declaration, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        check_declaration(declaration)
        self.decl = declaration

        self.data = Data(self, "Data", table=declaration.table)
        self.auth = Auth(self, "Auth")
        self.messaging = Messaging(self, "Messaging", declaration=declaration)
        self.settings = Settings(self, "Settings", secrets=declaration.secrets, stack_name=self.stack_name)
        self.compute = Functions(self, "Functions", declaration=declaration, table=self.data.table)
        self.workflows = Workflows(
            self, "Workflows", declaration=declaration, table=self.data.table,
            functions=self.compute.functions, messaging=self.messaging,
        )
        self.compute.grant_declared(
            messaging=self.messaging, settings=self.settings, state_machines=self.workflows.state_machines
        )
        Triggers(
            self, "Triggers", declaration=declaration, table=self.data.table, functions=self.compute.functions,
            queues=self.messaging.queues, alarms=self.messaging.alarms,
        )
        self.api = Api(self, "Api", declaration=declaration, functions=self.compute.functions, auth=self.auth)
        self.compute.expose_api_url(self.api.http_api.api_endpoint)
        Monitoring(
            self, "Monitoring", alarms=self.messaging.alarms, api=self.api.http_api,
            functions=self.compute.functions, messaging=self.messaging,
            state_machines=self.workflows.state_machines,
        )
        # The pieces tests, tools and outputs reach for, by their plain names.
        self.table, self.user_pool, self.user_pool_client = self.data.table, self.auth.user_pool, self.auth.client
        self.functions, self.layer = self.compute.functions, self.compute.layer
        self.layer_kind = self.compute.layer_kind
        self.queues, self.dlqs, self.topics = self.messaging.queues, self.messaging.dlqs, self.messaging.topics
        self.alarm_topic, self.alarms = self.messaging.alarm_topic, self.messaging.alarms.all
        self.secrets, self.state_machines = self.settings.secrets, self.workflows.state_machines
        self.stage = self.api.stage
        self._outputs()

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api.stage.url)
        CfnOutput(self, "UserPoolId", value=self.auth.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.auth.client.user_pool_client_id)
        CfnOutput(self, "TableName", value=self.data.table.table_name)
        CfnOutput(self, "OpsAlarmTopicArn", value=self.messaging.alarm_topic.topic_arn)
        for name, q in self.messaging.queues.items():
            CfnOutput(self, pascal(name) + "QueueUrl", value=q.queue_url)
            CfnOutput(self, pascal(name) + "DlqUrl", value=self.messaging.dlqs[name].queue_url)
        for name, machine in self.workflows.state_machines.items():
            CfnOutput(self, pascal(name) + "StateMachineArn", value=machine.state_machine_arn)
        for name, secret in self.settings.secrets.items():
            CfnOutput(self, pascal(name) + "SecretArn", value=secret.secret_arn)
