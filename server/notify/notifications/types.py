"""Every notification type, its default channels and what it tells the user.

Domains call `server.notify.notifications.service.notify(uow, user_id=, type=, ...)` with one of
these
names. A user's preferences (`/api/v1/me/notification-preferences`) override the defaults per
type; a type not listed here still works (in-app only) so a new domain never breaks, but it should
be added here.

`group_key=` (optional on `notify`) folds a burst of the same key for the same user within
`settings.notification_group_window_seconds` into one unread notification ("12 people liked your
article", live event `notification.updated` with the same id); the same actor again within the
window notifies nobody (follow, unfollow, follow again). Suggested keys are in `group_key` below
(`<id>` is the subject's id). Only a new row is pushed or mailed, not a fold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NotificationType:
    """A type's defaults: which channels are on until the user says otherwise."""

    name: str
    description: str
    in_app: bool = True
    push: bool = False
    email: bool = False
    # Suggested aggregation key pattern (informative; callers pass the key).
    group_key: str | None = None
    # The title of a folded burst, `{count}` the number of actors (else the latest title stays).
    group_title: str | None = None
    # False: no row and no live event from notify (messages have their own); push only.
    stored: bool = True
    # The user cannot turn the in-app channel off (security and money notices).
    required: bool = False


_ALL = (
    # Social
    NotificationType(
        "comment.created",
        "Someone commented on your content.",
        push=True,
        group_key="comment:content:<id>",
        group_title="{count} people commented on your content",
    ),
    NotificationType("comment.reply", "Someone replied to your comment.", push=True),
    NotificationType("comment.mention", "Someone @mentioned you in a comment.", push=True),
    NotificationType(
        "comment.liked",
        "Someone liked your comment.",
        group_key="like:comment:<id>",
        group_title="{count} people liked your comment",
    ),
    NotificationType(
        "content.liked",
        "Someone liked your content.",
        group_key="like:content:<id>",
        group_title="{count} people liked your content",
    ),
    NotificationType(
        "follow.created",
        "Someone started following you.",
        push=True,
        group_key="follow:<followee_id>",
        group_title="{count} people started following you",
    ),
    NotificationType(
        "message.created",
        "A private message arrived (live and push only: conversations keep their own unread).",
        push=True,
        stored=False,
    ),
    # Commerce
    NotificationType("order.paid", "Your order is paid.", push=True, email=True, required=True),
    NotificationType(
        "order.refunded", "Your order was refunded.", push=True, email=True, required=True
    ),
    NotificationType("shipment.shipped", "Goods you bought have shipped.", push=True),
    NotificationType(
        "subscription.renewal_failed",
        "Your subscription could not be renewed.",
        push=True,
        email=True,
        required=True,
    ),
    NotificationType(
        "subscription.expiring", "Your subscription ends soon.", push=True, email=True
    ),
    NotificationType(
        "earnings.sale",
        "You sold something.",
        push=True,
        group_key="sale:<creator_id>",
        group_title="You made {count} sales",
    ),
    NotificationType(
        "withdrawal.updated", "Your withdrawal changed state.", push=True, email=True, required=True
    ),
    # Content and creators
    NotificationType("content.approved", "Your content passed review."),
    NotificationType("content.published", "Your content is published."),
    NotificationType("content.rejected", "Your content did not pass review.", email=True),
    NotificationType("content.removed", "Your content was withdrawn after a report.", email=True),
    NotificationType("creator.approved", "Your creator application was approved.", email=True),
    NotificationType("creator.rejected", "Your creator application was not approved.", email=True),
    # Account and system
    NotificationType("accounts.export_ready", "Your data export is ready.", email=True),
    NotificationType("system.welcome", "Welcome to a new account.", required=True),
    NotificationType(
        "system.announcement", "An announcement from the platform.", push=True, required=True
    ),
)

TYPES: dict[str, NotificationType] = {item.name: item for item in _ALL}

# What an unknown type gets: in-app only.
DEFAULT = NotificationType("", "An unlisted notification type.")


def get(name: str) -> NotificationType:
    """The type's defaults, or in-app only for a name not listed."""
    return TYPES.get(name, DEFAULT)
