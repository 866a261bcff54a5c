"""Kafka connection options (security) for aiokafka and confluent-kafka clients."""

from __future__ import annotations

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
