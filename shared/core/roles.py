"""The roles a caller can hold: the Cognito groups of the user pool (CDK and the local runtime create exactly
these), the roles routes declare (shared/api/declaration.py) and the ones `require_role` checks.

A `StrEnum`, so a role compares equal to the group name in the token's `cognito:groups` claim."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SHOPPER = "shopper"
    MERCHANT = "merchant"
    REVIEWER = "reviewer"
    OPS = "ops"


ROLES: tuple[Role, ...] = tuple(Role)
