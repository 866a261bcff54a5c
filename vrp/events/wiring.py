"""Who consumes and produces which topic: the one declaration of the event wiring.

The runtime starts a worker per consumer below, bound by group name to its role's table
of handlers, `{type: handler}` (services/runtime.py checks that the table handles exactly
the types the consumer accepts); the broker's grants are derived from it
(vrp/provisioning/access.py), and so are docs/kafka.md's access table and the AsyncAPI
addresses. Adding a consumer is one entry here plus one entry in its role's handler tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from vrp.events import topics
from vrp.events.commands import OfferReferral, OfferReferralV1, WithdrawOffer
from vrp.events.models import (
    AlertSent,
    DeadLetter,
    DeadLetterV1,
    HeldForTriage,
    PartnerReferral,
    PartnerReferralCancelled,
    ReferralCancelled,
    ReferralDecided,
    ReferralEscalated,
    ReferralReceived,
    ReferralReceivedV1,
    ReferralReoffered,
    ReferralResponded,
    ReferrerUpdate,
)


@dataclass(frozen=True)
class TopicPattern:
    """Every topic named prefix + something + suffix (e.g. all partner topics)."""

    prefix: str
    suffix: str

    def matches(self, topic: str) -> bool:
        """True when topic has this shape (with at least one character in between)."""
        return (
            len(topic) > len(self.prefix) + len(self.suffix)
            and topic.startswith(self.prefix)
            and topic.endswith(self.suffix)
        )

    def address(self, placeholder: str = "{organisation}") -> str:
        """The pattern written with a placeholder, e.g. partner.{organisation}.referrals."""
        return f"{self.prefix}{placeholder}{self.suffix}"


PARTNER_REFERRALS = TopicPattern(topics.PARTNER_PREFIX, topics.PARTNER_SUFFIX)
"""partner.<org>.referrals: what one organisation receives."""
PARTNER_STATUS = TopicPattern(topics.PARTNER_PREFIX, topics.PARTNER_STATUS_SUFFIX)
"""partner.<org>.status: what happened to the referrals one organisation sent."""


@dataclass(frozen=True)
class Consumer:
    """One consumer group: what it reads and which event and command types it accepts (any
    other type is dead-lettered). The group name is also its inbox (de-duplication) name
    and the key of its handler table at the composition root."""

    group: str
    topics: tuple[str, ...] = ()
    patterns: tuple[TopicPattern, ...] = ()
    summary: str = ""
    accepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Role:
    """A service: its broker principal, its consumers, and the topics its outbox relay
    writes (`name` is also the producer name of its outbox rows)."""

    name: str
    principal: str
    consumers: tuple[Consumer, ...]
    produces: tuple[str, ...]
    produces_patterns: tuple[TopicPattern, ...] = ()


INTAKE = Role(
    name="intake",
    principal="vrp-intake",
    consumers=(
        Consumer(
            topics.INTAKE_GROUP,
            (topics.DECIDED, topics.ALERTS),
            summary="the referrer's status view (timeline)",
            accepts=(ReferralDecided.TYPE, AlertSent.TYPE, ReferralEscalated.TYPE),
        ),
        Consumer(
            topics.INTAKE_INBOX_GROUP,
            patterns=(PARTNER_REFERRALS,),
            summary="each receiver's inbox for the API",
            accepts=(PartnerReferral.TYPE, HeldForTriage.TYPE, PartnerReferralCancelled.TYPE),
        ),
        Consumer(
            topics.INTAKE_DEAD_LETTERS_GROUP,
            (topics.DEAD_LETTER,),
            summary="a stuck referral's timeline",
            accepts=(DeadLetter.TYPE, DeadLetterV1.TYPE),
        ),
    ),
    produces=(topics.RECEIVED, topics.STATUS, topics.DEAD_LETTER),
)
ROUTER = Role(
    name="router",
    principal="vrp-router",
    consumers=(
        Consumer(
            topics.ROUTER_GROUP,
            (topics.RECEIVED, topics.STATUS),
            summary="route referrals; offer them where asked; follow cancellations and responses",
            accepts=(
                ReferralReceived.TYPE,
                OfferReferral.TYPE,
                # Retired: the ones still on the topic.
                ReferralReceivedV1.TYPE,
                OfferReferralV1.TYPE,
                ReferralReoffered.TYPE,
                WithdrawOffer.TYPE,
                ReferralCancelled.TYPE,
                ReferralResponded.TYPE,
            ),
        ),
    ),
    produces=(topics.DECIDED, topics.UPDATES, topics.DEAD_LETTER),
    produces_patterns=(PARTNER_REFERRALS, PARTNER_STATUS),
)
NOTIFIER = Role(
    name="notifier",
    principal="vrp-notifier",
    consumers=(
        Consumer(
            topics.NOTIFIER_GROUP,
            (topics.DECIDED,),
            summary="alert receiving teams",
            accepts=(ReferralDecided.TYPE,),
        ),
        Consumer(
            topics.NOTIFIER_UPDATES_GROUP,
            (topics.UPDATES,),
            summary="tell referrers what happened; stop timers once a team responds",
            accepts=(ReferrerUpdate.TYPE,),
        ),
    ),
    produces=(topics.ALERTS, topics.DEAD_LETTER),
)

ROLES: tuple[Role, ...] = (INTAKE, ROUTER, NOTIFIER)
ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in ROLES)
PRINCIPALS: tuple[str, ...] = tuple(r.principal for r in ROLES)


def role(name: str) -> Role:
    """The role called name (KeyError if there is none)."""
    for r in ROLES:
        if r.name == name:
            return r
    raise KeyError(name)
