"""Kafka connection options (security) for aiokafka and confluent-kafka clients."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from aiokafka.helpers import create_ssl_context

from vrp.settings import KafkaSecurity, Settings


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client of this process gets."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol.value,
    }
    if settings.kafka_security_protocol is not KafkaSecurity.PLAINTEXT:
        options |= {
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": (
                settings.kafka_password.get_secret_value() if settings.kafka_password else None
            ),
        }
    if settings.kafka_security_protocol is KafkaSecurity.SASL_SSL:
        cafile = str(settings.kafka_ca_file) if settings.kafka_ca_file else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    return options


def confluent_options(settings: Settings) -> dict[str, Any]:
    """The same connection for confluent-kafka (librdkafka) clients."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol.value,
    }
    if settings.kafka_security_protocol is not KafkaSecurity.PLAINTEXT:
        conf |= {
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": settings.kafka_username or "",
            "sasl.password": (
                settings.kafka_password.get_secret_value() if settings.kafka_password else ""
            ),
        }
    if settings.kafka_security_protocol is KafkaSecurity.SASL_SSL and settings.kafka_ca_file:
        conf["ssl.ca.location"] = str(settings.kafka_ca_file)
    return conf


class BrokerAccess(StrEnum):
    """What a connection attempt with this process's settings found."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    CREDENTIALS_MISSING = "credentials-missing"
    CREDENTIALS_REFUSED = "credentials-refused"


async def broker_access(settings: Settings, timeout: float = 5.0) -> BrokerAccess:
    """Connect (and authenticate) to the first bootstrap server that answers, so a caller can
    tell a broker that is down from credentials that are missing or refused."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

    options = aiokafka_options(settings)
    if settings.kafka_security_protocol is not KafkaSecurity.PLAINTEXT and not (
        options.get("sasl_plain_username") and options.get("sasl_plain_password")
    ):
        return BrokerAccess.CREDENTIALS_MISSING
    del options["bootstrap_servers"]
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **options),
                timeout,
            )
        except SaslAuthenticationFailed:
            return BrokerAccess.CREDENTIALS_REFUSED
        except (KafkaConnectionError, OSError, TimeoutError, ValueError):
            continue  # try the next bootstrap server
        conn.close()
        return BrokerAccess.OK
    return BrokerAccess.UNREACHABLE
