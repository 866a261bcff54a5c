"""The development broker as benchmarks see it: admin access and a service's own login."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from vrp.provisioning.access import SERVICES, Access
from vrp.settings import KafkaSecurity, Settings
from vrp.transport.connection import confluent_options

ADMIN_PASSWORD = Path("var/kafka/admin.password")


def admin_settings(bootstrap: str) -> Settings:
    """The broker admin, from var/kafka/admin.password when deploy/kafka.sh made one."""
    if not ADMIN_PASSWORD.exists():
        return Settings(kafka_bootstrap=bootstrap)
    return Settings(
        kafka_bootstrap=bootstrap,
        kafka_security_protocol=KafkaSecurity.SASL_PLAINTEXT,
        kafka_username="admin",
        kafka_password=SecretStr(ADMIN_PASSWORD.read_text().strip()),
    )


def principal_prefix(namespace: str) -> str:
    """The run's own principals: `bench1a2b3c-vrp-router` for namespace `bench1a2b3c.`."""
    if not namespace.startswith("bench"):
        raise ValueError(f"benchmark namespaces start with 'bench', not {namespace!r}")
    return namespace.rstrip(".") + "-"


def service_env(admin: Settings, namespace: str, service: str) -> dict[str, str]:
    """VRP_KAFKA_* for one service process as a benchmark-only principal, if secured.

    The principal (`<namespace>-vrp-router`, ...) gets the service's grants on this run's
    topic namespace only: the real `vrp-*` users, whose passwords running services hold,
    are never touched. `release` removes them at the end of the run.
    """
    env = {"VRP_KAFKA_SECURITY_PROTOCOL": admin.kafka_security_protocol.value}
    if admin.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        return env
    prefix = principal_prefix(namespace)
    access = Access(confluent_options(admin), namespace)
    passwords = access.provision_services(principal_prefix=prefix)
    user = prefix + service
    return env | {"VRP_KAFKA_USERNAME": user, "VRP_KAFKA_PASSWORD": passwords[user]}


def release(admin: Settings, namespace: str) -> None:
    """Revoke the run's principals (credential overwritten, ACLs deleted)."""
    if admin.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        return
    access = Access(confluent_options(admin), namespace)
    for service in SERVICES:
        access.remove(principal_prefix(namespace) + service)
