"""AWS clients, built lazily on first use and cached per container (never at import time)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3  # deferred: keeps cold-start import cheap for functions that never call AWS
    from botocore.config import Config

    # max_pool_connections: the sweeper runs its timers on a thread pool (shared/orders/lifecycle.py).
    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5,
                    max_pool_connections=64)
    return boto3.client(service, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, config=config)


def reset_clients() -> None:
    """Tests call this when they swap the AWS endpoint."""
    client.cache_clear()
