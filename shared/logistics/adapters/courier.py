"""Who we ask to watch a parcel: Kuaidi100 (the sandbox stand-in lives in shared/sandbox/courier.py)."""

from __future__ import annotations

from typing import Protocol

from shared.logistics.adapters import kuaidi100
from shared.logistics.adapters.errors import SubscriptionFailed
from shared.logistics.adapters.http import HttpClient


class TrackingSubscriber(Protocol):
    def subscribe(self, carrier: str, tracking_number: str, callback_url: str) -> None:
        """Ask for pushes about one parcel. Raises SubscriptionFailed (see `retryable`) when refused."""
        ...


class Kuaidi100Subscriber:
    """Subscribes through Kuaidi100 `poll`. `salt` must be the one the callback verifies with.

    A reply of 501 (already subscribed, still tracking) counts as success, so retries are safe.
    """

    def __init__(self, http_client: HttpClient, key: str, salt: str, *, phone: str | None = None) -> None:
        self._http = http_client
        self._key = key
        self._salt = salt
        self._phone = phone

    def subscribe(self, carrier: str, tracking_number: str, callback_url: str) -> None:
        request = kuaidi100.poll_request(
            key=self._key,
            company=carrier,
            number=tracking_number,
            callback_url=callback_url,
            salt=self._salt,
            phone=self._phone,
        )
        response = self._http.send(request)
        if response.status >= 500:
            raise SubscriptionFailed(str(response.status), "kuaidi100 unavailable", retryable=True)
        if response.status != 200:
            raise SubscriptionFailed(str(response.status), "kuaidi100 refused the request", retryable=False)
        kuaidi100.check_poll_reply(response.body)
