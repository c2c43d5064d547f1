"""The sandbox tracking subscriber: records subscriptions (idempotently) so the sandbox courier
(infra/local/sandbox_courier.py) knows what to push. Local runtime and tests only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Subscription:
    carrier: str
    tracking_number: str
    callback_url: str


@dataclass
class SandboxSubscriber:
    """Local stand-in for Kuaidi100's `poll`: remembers each parcel once, like Kuaidi100's 501 on a repeat."""

    subscriptions: list[Subscription] = field(default_factory=list)

    def subscribe(self, carrier: str, tracking_number: str, callback_url: str) -> None:
        entry = Subscription(carrier.lower(), tracking_number, callback_url)
        if entry not in self.subscriptions:  # like Kuaidi100's 501: a repeat changes nothing
            self.subscriptions.append(entry)

    def find(self, tracking_number: str) -> Subscription | None:
        return next((s for s in self.subscriptions if s.tracking_number == tracking_number), None)


_subscriber = SandboxSubscriber()


def subscriber() -> SandboxSubscriber:
    """The process-wide sandbox subscriber (tests read what it was asked to watch)."""
    return _subscriber
