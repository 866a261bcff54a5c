"""The test broker as seen by tests: where it is, and credentials for each principal."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from vrp.provisioning.access import Access
from vrp.settings import KafkaSecurity, Settings
from vrp.transport.connection import aiokafka_options, confluent_options

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class KafkaEnv:
    """Connection facts of the broker started by deploy/kafka.sh."""

    bootstrap: str
    security: KafkaSecurity
    admin_password: str | None
    tls_bootstrap: str | None
    ca_file: str | None

    @classmethod
    def from_environment(cls) -> KafkaEnv:
        """From VRP_TEST_KAFKA_* (exported by deploy/test.sh), else the local deploy state."""
        state = REPO / "var" / "kafka"
        password_file = state / "admin.password"
        password = os.environ.get("VRP_TEST_KAFKA_ADMIN_PASSWORD") or (
            password_file.read_text().strip() if password_file.exists() else None
        )
        default_security = "SASL_PLAINTEXT" if password else "PLAINTEXT"
        ca = state / "tls" / "ca.pem"
        return cls(
            bootstrap=os.environ.get("VRP_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            security=KafkaSecurity(os.environ.get("VRP_TEST_KAFKA_SECURITY", default_security)),
            admin_password=password,
            tls_bootstrap=os.environ.get("VRP_TEST_KAFKA_TLS_BOOTSTRAP", "127.0.0.1:9095"),
            ca_file=os.environ.get("VRP_TEST_KAFKA_CA_FILE", str(ca) if ca.exists() else None),
        )

    @property
    def secure(self) -> bool:
        """True when the broker authenticates and authorises."""
        return self.security is not KafkaSecurity.PLAINTEXT

    def settings(
        self, user: str = "admin", password: str | None = None, tls: bool = False
    ) -> Settings:
        """Settings for a client acting as `user`."""
        if not self.secure:
            return Settings(kafka_bootstrap=self.bootstrap)
        return Settings(
            kafka_bootstrap=self.tls_bootstrap if tls else self.bootstrap,
            kafka_security_protocol=KafkaSecurity.SASL_SSL if tls else self.security,
            kafka_username=user,
            kafka_password=SecretStr(password or self.admin_password or ""),
            kafka_ca_file=Path(self.ca_file) if tls and self.ca_file else None,
        )

    def aiokafka(
        self, user: str = "admin", password: str | None = None, tls: bool = False
    ) -> dict[str, Any]:
        """aiokafka keyword arguments for `user`."""
        return aiokafka_options(self.settings(user, password, tls))

    def process_env(self, user: str, password: str | None, tls: bool = False) -> dict[str, str]:
        """VRP_KAFKA_* variables for a service process acting as `user`."""
        s = self.settings(user, password, tls)
        env = {
            "VRP_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "VRP_KAFKA_SECURITY_PROTOCOL": s.kafka_security_protocol.value,
        }
        if self.secure:
            env |= {"VRP_KAFKA_USERNAME": user, "VRP_KAFKA_PASSWORD": password or ""}
        if tls and self.ca_file:
            env["VRP_KAFKA_CA_FILE"] = self.ca_file
        return env

    def access(self, namespace: str) -> Access:
        """The admin's access manager for a namespace."""
        return Access(confluent_options(self.settings()), namespace)


async def wait_for_access(
    env: KafkaEnv, user: str, password: str, topic: str, timeout: float = 30.0
) -> None:
    """Until `user` can authenticate and see `topic` (new credentials and ACLs take a moment
    to reach the broker)."""
    import asyncio
    import time

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(**env.aiokafka(user, password), request_timeout_ms=5000)
        try:
            await admin.start()
            [described] = await admin.describe_topics([topic])
            if described.get("error_code") == 0:
                return
        except KafkaError:
            pass
        finally:
            await admin.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{user} still cannot see {topic}")
        await asyncio.sleep(0.3)
