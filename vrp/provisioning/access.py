"""Who may do what on the broker: service principals, partner principals, their ACLs.

Deny by default (the broker runs the standard authorizer with no ACL meaning no access);
this module is the one place that grants anything. Uses confluent-kafka's admin client,
the only Python client that can manage SCRAM credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from vrp.events import topics
from vrp.events.wiring import PRINCIPALS, ROLES, Role

READ, WRITE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
PARTNER_PREFIX = topics.PARTNER_PREFIX


@dataclass(frozen=True)
class Grant:
    """One line of the access table."""

    principal: str
    resource: ResourceType
    pattern: ResourcePatternType
    name: str
    operations: tuple[AclOperation, ...]


def _grants(role: Role) -> tuple[Grant, ...]:
    """A role's grants, from its wiring: read what it consumes (and join its groups),
    write what it produces. Kafka ACLs match names or prefixes, so a topic pattern is
    granted by its prefix."""
    p = role.principal
    out: list[Grant] = []
    for topic in role.produces:
        out.append(Grant(p, TOPIC, LITERAL, topic, (WRITE, DESCRIBE)))
    for prefix in dict.fromkeys(pat.prefix for pat in role.produces_patterns):
        out.append(Grant(p, TOPIC, PREFIXED, prefix, (WRITE, DESCRIBE)))
    for consumer in role.consumers:
        for topic in consumer.topics:
            out.append(Grant(p, TOPIC, LITERAL, topic, (READ, DESCRIBE)))
        for prefix in dict.fromkeys(pat.prefix for pat in consumer.patterns):
            out.append(Grant(p, TOPIC, PREFIXED, prefix, (READ, DESCRIBE)))
        out.append(Grant(p, GROUP, LITERAL, consumer.group, (READ,)))
    return _merged(out)


def _merged(grants: list[Grant]) -> tuple[Grant, ...]:
    """One grant per resource, with every operation granted on it once: a topic two of the
    role's consumers read, or one it both writes and reads (the broker refuses a request
    that repeats a binding)."""
    merged: dict[tuple[str, ResourceType, ResourcePatternType, str], tuple[AclOperation, ...]]
    merged = {}
    for g in grants:
        key = (g.principal, g.resource, g.pattern, g.name)
        merged[key] = tuple(dict.fromkeys((*merged.get(key, ()), *g.operations)))
    return tuple(Grant(*key, operations) for key, operations in merged.items())


SERVICE_GRANTS: tuple[Grant, ...] = tuple(g for role in ROLES for g in _grants(role))
SERVICES = PRINCIPALS


def partner_grants(org: str) -> tuple[Grant, ...]:
    """A partner organisation reads its own topics and uses its own consumer groups only."""
    return (
        Grant(org, TOPIC, PREFIXED, f"{PARTNER_PREFIX}{org}.", (READ, DESCRIBE)),
        Grant(org, GROUP, PREFIXED, f"{org}.", (READ,)),
    )


def _bindings(grants: tuple[Grant, ...], namespace: str) -> list[AclBinding]:
    return [
        AclBinding(
            g.resource,
            namespace + g.name,
            g.pattern,
            f"User:{g.principal}",
            "*",
            op,
            AclPermissionType.ALLOW,
        )
        for g in grants
        for op in g.operations
    ]


class Access:
    """Applies grants and manages SCRAM users, as the broker's admin."""

    def __init__(self, admin_conf: dict[str, Any], namespace: str = "") -> None:
        self._admin = AdminClient(admin_conf)
        self._ns = namespace

    def apply(self, grants: tuple[Grant, ...]) -> int:
        """Create the ACLs (creating an existing one is a no-op); returns how many."""
        bindings = _bindings(grants, self._ns)
        for future in self._admin.create_acls(bindings, request_timeout=15).values():
            future.result()
        return len(bindings)

    def set_password(self, user: str, password: str | None = None) -> str:
        """Create the user or replace its credential; returns the (new) password."""
        password = password or secrets.token_urlsafe(24)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upsert = UserScramCredentialUpsertion(user, info, password.encode())
        for future in self._admin.alter_user_scram_credentials([upsert]).values():
            future.result()
        return password

    def remove(self, user: str) -> None:
        """Revoke a user: its credential becomes a random secret nobody holds, its ACLs go.

        The credential is overwritten rather than deleted because Kafka 4.1.1 brokers, once
        any SCRAM credential has been deleted, reject every SCRAM login after a restart
        (seen here with a single-node KRaft broker); an overwritten one is just as dead.
        """
        self.set_password(user, secrets.token_urlsafe(48))
        pattern = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            f"User:{user}",
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        for future in self._admin.delete_acls([pattern], request_timeout=15).values():
            future.result()

    def provision_partner(self, org: str) -> str:
        """A Kafka user for the organisation that can read only its own topics."""
        password = self.set_password(org)
        self.apply(partner_grants(org))
        return password

    def provision_services(
        self, passwords: dict[str, str] | None = None, principal_prefix: str = ""
    ) -> dict[str, str]:
        """Users for the three services with the access table above; returns passwords.

        With a principal_prefix (e.g. "bench-"), the users and their grants are
        `<prefix>vrp-intake` etc., so a benchmark never touches the real services' logins.
        """
        passwords = passwords or {}
        users = [principal_prefix + s for s in SERVICES]
        out = {u: self.set_password(u, passwords.get(u)) for u in users}
        self.apply(
            tuple(replace(g, principal=principal_prefix + g.principal) for g in SERVICE_GRANTS)
        )
        return out


def access_table() -> str:
    """The service access table as Markdown (kept in docs/kafka.md by a test)."""
    rows = ["| Principal | Resource | Name | Operations |", "|---|---|---|---|"]
    for g in SERVICE_GRANTS:
        kind = "topic" if g.resource == TOPIC else "group"
        name = f"`{g.name}`" + (" (prefix)" if g.pattern == PREFIXED else "")
        ops = ", ".join(op.name for op in g.operations)
        rows.append(f"| `{g.principal}` | {kind} | {name} | {ops} |")
    rows.append("| `<org>` (each partner) | topic | `partner.<org>.` (prefix) | READ, DESCRIBE |")
    rows.append("| `<org>` (each partner) | group | `<org>.` (prefix) | READ |")
    return "\n".join(rows)
