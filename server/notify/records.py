"""The records of notifications: what may be told, channels and their
settings, how deliveries are retried."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Annotated, Any

from ..domain.schema import MISSING, Items, Missing, Text
from ..netguard import DEFAULT_RULE, NetworkRule
from .senders import SmtpSettings


class NotificationEvent(StrEnum):
    """What a channel may ask to hear about."""

    INCIDENT_CREATED = "incident.created"
    INCIDENT_UPDATED = "incident.updated"  # a new entry on its timeline
    INCIDENT_RESOLVED = "incident.resolved"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled"
    MAINTENANCE_STARTED = "maintenance.started"
    MAINTENANCE_UPDATED = "maintenance.updated"  # a new entry on its timeline
    MAINTENANCE_COMPLETED = "maintenance.completed"
    MAINTENANCE_CANCELLED = "maintenance.cancelled"
    MONITOR_DOWN = "monitor.down"
    MONITOR_DEGRADED = "monitor.degraded"
    MONITOR_UP = "monitor.up"  # back from down or degraded
    MONITOR_FLAPPING = "monitor.flapping"  # once, then quiet until it is stable
    MONITOR_STABLE = "monitor.stable"  # still for a whole window after flapping
    PROBE_OFFLINE = "probe.offline"  # a region's probe went silent
    PROBE_ONLINE = "probe.online"  # and reports again


PUBLIC_ONLY = NetworkRule.parse(
    "public", why="subscribers' webhooks reach public addresses only; see --allow-private-webhooks"
)

#: What public subscribers hear about: what the status page shows.
SUBSCRIBER_EVENTS = frozenset(
    e for e in NotificationEvent if not e.startswith(("monitor.", "probe."))
)
TEST_EVENT = "test"

#: What a PagerDuty channel may hear about: what opens and closes an alert
#: (a maintenance is planned work, not something to page anyone for).
PAGERDUTY_EVENTS = frozenset(e for e in NotificationEvent if not e.startswith("maintenance."))


class ChannelKind(Enum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"
    APPRISE = "apprise"  # any service Apprise knows, by an Apprise URL
    PAGERDUTY = "pagerduty"  # PagerDuty's Events API v2: alerts opened and closed


Url = Annotated[
    str,
    Text(10, 2000, pattern=r"https?://[^\s/?#]+(?:[/?#]\S*)?", hint="must be an http(s):// URL"),
]
EMAIL_PATTERN = r"[^@\s<>,;:\"()\[\]]+@[^@\s<>,;:\"()\[\]]+\.[^@\s<>,;:\"()\[\]]+"
Address = Annotated[str, Text(3, 254, pattern=EMAIL_PATTERN, hint="must be an email address")]
Secret = Annotated[str, Text(16, 200)]
ChannelName = Annotated[str, Text(1, 80)]


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: Url
    secret: Secret | None = None  # made up (and shown once) when not given


@dataclass(frozen=True, slots=True)
class SlackConfig:
    url: Url


@dataclass(frozen=True, slots=True)
class EmailConfig:
    to: Annotated[list[Address], Items(50)]


AppriseUrl = Annotated[str, Text(4, 4000)]  # Apprise's own parsing says the rest


@dataclass(frozen=True, slots=True)
class AppriseConfig:
    url: AppriseUrl


RoutingKey = Annotated[
    str,
    Text(
        32,
        32,
        pattern=r"[A-Za-z0-9]{32}",
        hint="must be the 32-character integration key of an Events API v2 integration",
    ),
]


@dataclass(frozen=True, slots=True)
class PagerDutyConfig:
    routing_key: RoutingKey
    url: Url | None = None  # the Events API v2 endpoint; PagerDuty's own when left out


CONFIGS: Mapping[ChannelKind, type] = {
    ChannelKind.WEBHOOK: WebhookConfig,
    ChannelKind.SLACK: SlackConfig,
    ChannelKind.EMAIL: EmailConfig,
    ChannelKind.APPRISE: AppriseConfig,
    ChannelKind.PAGERDUTY: PagerDutyConfig,
}

#: What of a channel's config is a secret: stored and used, never shown again
#: (in the API or the audit log) once given.
SECRETS: Mapping[ChannelKind, frozenset[str]] = {
    ChannelKind.WEBHOOK: frozenset({"secret"}),
    ChannelKind.APPRISE: frozenset({"url"}),  # it holds the service's tokens
    ChannelKind.PAGERDUTY: frozenset({"routing_key"}),
}

#: What a channel's config holds that is derived from what was given (shown
#: in its place), made again whenever the config changes.
DERIVED: Mapping[ChannelKind, frozenset[str]] = {
    ChannelKind.APPRISE: frozenset({"service", "masked_url"}),
}


def shown_config(kind: ChannelKind, config: Mapping[str, Any]) -> dict[str, Any]:
    """A channel's config as the admins (and the audit log) see it: without its secrets."""
    hidden = SECRETS.get(kind, frozenset())
    return {k: v for k, v in config.items() if k not in hidden}


@dataclass(frozen=True, slots=True)
class NewChannel:
    kind: ChannelKind
    name: ChannelName
    config: dict[str, Any]
    events: list[NotificationEvent] | None = None  # None: all of them


@dataclass(frozen=True, slots=True)
class ChangeChannel:
    name: ChannelName | Missing = MISSING
    config: dict[str, Any] | Missing = MISSING  # merged over the current one
    events: list[NotificationEvent] | Missing = MISSING
    disabled: bool | Missing = MISSING


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    org: str
    kind: ChannelKind
    name: str
    config: Mapping[str, Any]
    events: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Channel:
        return cls(
            row["id"],
            row["org"],
            ChannelKind(row["kind"]),
            row["name"],
            row["config"],
            tuple(row["events"]),
            row["created_at"],
            row["disabled_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        """As the admins see it: the secrets are not (a made-up signing secret is
        shown once, when it is made)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "name": self.name,
            "config": shown_config(self.kind, self.config),
            "events": list(self.events),
            "created_at": self.created_at,
            "disabled": self.disabled_at is not None,
            "disabled_at": self.disabled_at,
        }


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``first``, times ``factor`` each time, at most ``cap``."""

    first: float = 10.0  # seconds before the second attempt
    factor: float = 2.0
    cap: float = 3600.0
    attempts: int = 8  # in all, the first included; then the delivery has failed
    jitter: float = 0.1  # each delay is off by up to this fraction, either way

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1, 2...)."""
        base = min(self.cap, self.first * self.factor ** (attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class NotifySettings:
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 8  # messages in flight at once
    poll_seconds: float = 10.0  # how often to look for due rows besides wakeups
    http_timeout: float = 10.0  # seconds for a webhook to answer
    lease_seconds: float = 300.0  # a claimed row is left alone this long; sends must be shorter
    keep_days: float = 30.0  # sent and failed deliveries are forgotten after this
    allow_private_webhooks: bool = False  # subscribers' webhooks: the channels' rule, not public
    network_rule: NetworkRule = field(default_factory=lambda: NetworkRule.parse(DEFAULT_RULE))

    @property
    def subscriber_rule(self) -> NetworkRule:
        """Subscribers are strangers: their webhooks reach public addresses only,
        unless the operator lets them have the channels' rule."""
        return self.network_rule if self.allow_private_webhooks else PUBLIC_ONLY

    subscribes_per_minute: float = 2.0  # public sign-ups per client address, sustained...
    subscribes_burst: int = 10  # ...and at once
