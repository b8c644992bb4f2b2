"""Notifications: an organization's incidents and maintenances, sent out.

* Channels, set up by an organization's admins: a signed webhook, a Slack
  style incoming webhook, email to fixed addresses, any service Apprise knows
  (:mod:`.via_apprise`), or PagerDuty (:mod:`.pagerduty`); each picks the
  events it wants (:class:`NotificationEvent`).
* Subscribers, who sign up on the public status page by email or webhook,
  confirm by a link (double opt-in), and leave by a one-click link.
* Deliveries: one durable row per message, sent by :class:`Notifier`'s worker
  and retried with backoff until it is sent or has failed for good.
"""

from .deliveries import Notifier
from .feed import notification_for
from .records import (
    SUBSCRIBER_EVENTS,
    ChangeChannel,
    Channel,
    ChannelKind,
    NewChannel,
    NotificationEvent,
    NotifySettings,
    RetryPolicy,
)
from .senders import SendError, SmtpSettings, sign, verify
from .subscribers import Subscriber, SubscriberKind, derive_key

__all__ = [
    "SUBSCRIBER_EVENTS",
    "ChangeChannel",
    "Channel",
    "ChannelKind",
    "NewChannel",
    "NotificationEvent",
    "Notifier",
    "NotifySettings",
    "RetryPolicy",
    "SendError",
    "SmtpSettings",
    "Subscriber",
    "SubscriberKind",
    "derive_key",
    "notification_for",
    "sign",
    "verify",
]
