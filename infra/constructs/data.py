"""The one DynamoDB table (TableV2, so a second region is one more replica, not a migration)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from constructs import Construct

from infra.declaration import Table

TTL_ATTRIBUTE = "expires_at_epoch"


class Data(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, table: Table) -> None:
        super().__init__(scope, construct_id)
        self.table = ddb.TableV2(
            self,
            table.logical_id,
            partition_key=ddb.Attribute(name=table.pk, type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name=table.sk, type=ddb.AttributeType.STRING),
            billing=ddb.Billing.on_demand(),
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=TTL_ATTRIBUTE,
            dynamo_stream=ddb.StreamViewType.NEW_AND_OLD_IMAGES if table.stream else None,
            global_secondary_indexes=[
                ddb.GlobalSecondaryIndexPropsV2(
                    index_name=ix.name,
                    partition_key=ddb.Attribute(name=ix.pk, type=ddb.AttributeType.STRING),
                    sort_key=ddb.Attribute(name=ix.sk, type=ddb.AttributeType.STRING),
                    projection_type=ddb.ProjectionType[ix.projection],
                )
                for ix in table.indexes
            ],
        )
        # The data outlives any refactor of the construct tree: its logical id is the declaration's, not a path.
        self.table.node.default_child.override_logical_id(table.logical_id)  # type: ignore[union-attr]
