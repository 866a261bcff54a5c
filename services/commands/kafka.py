"""`vrp kafka services|partner|acls`: broker principals and what they may touch."""

from __future__ import annotations

import argparse
import sys

from vrp.settings import KafkaSecurity, Settings


def login_problem(settings: Settings) -> str | None:
    """Why this process cannot log in to the broker as configured, as one line (or None)."""
    if settings.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        return None
    if settings.kafka_username and settings.kafka_password:
        return None
    return (
        f"VRP_KAFKA_SECURITY_PROTOCOL is {settings.kafka_security_protocol.value} but "
        "VRP_KAFKA_USERNAME/VRP_KAFKA_PASSWORD are not set (for deploy/kafka.sh's broker: "
        "admin and the password in var/kafka/admin.password)"
    )


def connection_failed(settings: Settings, error: Exception) -> str:
    """A one-line explanation of a failed admin request (instead of a traceback)."""
    return (
        f"Kafka at {settings.kafka_bootstrap} ({settings.kafka_security_protocol.value}, user "
        f"{settings.kafka_username or 'none'}): {error}; is the broker running, and are "
        "VRP_KAFKA_SECURITY_PROTOCOL/USERNAME/PASSWORD the broker admin's?"
    )


def _access(settings: Settings) -> object:
    from vrp.provisioning.access import Access
    from vrp.transport.connection import confluent_options

    return Access(confluent_options(settings), settings.kafka_namespace)


def cmd_services(args: argparse.Namespace) -> int:
    """Create (or rotate) the three services' Kafka users and apply their ACLs."""
    from confluent_kafka import KafkaException

    from vrp.provisioning.access import Access

    settings = Settings()
    if settings.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        print(
            "set VRP_KAFKA_SECURITY_PROTOCOL and the admin's VRP_KAFKA_USERNAME/PASSWORD",
            file=sys.stderr,
        )
        return 2
    if problem := login_problem(settings):
        print(problem, file=sys.stderr)
        return 2
    access = _access(settings)
    assert isinstance(access, Access)
    try:
        passwords = access.provision_services()
    except KafkaException as e:
        print(connection_failed(settings, e), file=sys.stderr)
        return 1
    for user, password in passwords.items():
        print(f"{user}: VRP_KAFKA_USERNAME={user} VRP_KAFKA_PASSWORD={password}")
    print("store these now: passwords are shown once", file=sys.stderr)
    return 0


def cmd_acls(args: argparse.Namespace) -> int:
    """Print the service access table (what `vrp kafka services` applies)."""
    from vrp.provisioning.access import access_table

    print(access_table())
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], run_async: object) -> None:
    """Register `vrp kafka ...` (its commands are synchronous: run_async is not needed)."""
    kafka = sub.add_parser("kafka", help="broker principals and ACLs (run as the broker admin)")
    cmds = kafka.add_subparsers(dest="kafka_cmd", required=True)
    cmds.add_parser("services", help=cmd_services.__doc__).set_defaults(fn=cmd_services)
    cmds.add_parser("acls", help=cmd_acls.__doc__).set_defaults(fn=cmd_acls)


def partner_credentials(action: str, org: str, settings: Settings) -> str | None:
    """Kafka side of `vrp partners add|rotate|revoke`: the organisation's broker user.

    Runs only where Kafka security is configured (as the broker admin); returns a new
    password to show once, or None.
    """
    if settings.kafka_security_protocol is KafkaSecurity.PLAINTEXT:
        return None
    from vrp.provisioning.access import Access, partner_grants

    access = _access(settings)
    assert isinstance(access, Access)
    if action == "add":
        return access.provision_partner(org)
    if action == "rotate":
        password = access.set_password(org)
        access.apply(partner_grants(org))
        return password
    if action == "revoke":
        access.remove(org)
    return None
