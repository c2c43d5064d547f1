"""Cognito: one user pool with a group per role, and the public app client the web and mobile apps use."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.constructs.common import ack, pascal
from shared.core.roles import ROLES

USER_GROUPS: tuple[str, ...] = ROLES  # one group per role (shared/core/roles.py)


class Auth(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The accounts outlive any refactor of the construct tree.
        pool.node.default_child.override_logical_id("UserPool")  # type: ignore[union-attr]
        ack(
            pool,
            "AwsSolutions-COG2",
            "MFA is optional: shoppers sign in to buy and forced MFA loses checkouts; staff groups "
            "(merchant, reviewer, ops) are told to enrol TOTP in the runbook.",
        )
        ack(
            pool,
            "AwsSolutions-COG8",
            "The Plus feature plan (threat protection) is billed per monthly active user, a large line at "
            "our shopper volume; revisit with the capacity plan. Sign-up abuse is bounded by API throttling.",
        )
        for group in USER_GROUPS:
            pool.add_group(pascal(group) + "Group", group_name=group)
        self.user_pool = pool
        self.client = pool.add_client(
            "AppClient",
            generate_secret=False,  # a browser/mobile app cannot keep a secret
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            prevent_user_existence_errors=True,
        )
