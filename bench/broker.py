"""The development broker as benchmarks see it: admin access and a service's own login."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from vrp.settings import KafkaSecurity, Settings
from vrp.transport.access import Access
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


def service_env(admin: Settings, namespace: str, service: str) -> dict[str, str]:
    """VRP_KAFKA_* for one service process, provisioning the services' users if secured."""
    env = {"VRP_KAFKA_SECURITY_PROTOCOL": admin.kafka_security_protocol.value}
    if admin.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        return env
    passwords = Access(confluent_options(admin), namespace).provision_services()
    return env | {"VRP_KAFKA_USERNAME": service, "VRP_KAFKA_PASSWORD": passwords[service]}
