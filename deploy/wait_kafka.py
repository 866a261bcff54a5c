"""Wait until a Kafka broker answers admin requests (used by deploy/kafka.sh).

An open port is not enough: the broker accepts connections before its metadata is
ready. This retries AIOKafkaAdminClient.list_topics() until it succeeds or the
deadline passes; exit status 0 when ready, 1 on timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient


async def _try_once(bootstrap: str, attempt_timeout: float, auth: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **auth)
    try:
        await asyncio.wait_for(admin.start(), attempt_timeout)
        await asyncio.wait_for(admin.list_topics(), attempt_timeout)
    finally:
        await admin.close()


async def wait(bootstrap: str, seconds: float, auth: dict[str, str]) -> bool:
    deadline = time.monotonic() + seconds
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            await _try_once(bootstrap, min(10.0, remaining), auth)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
            await asyncio.sleep(1.0)
        else:
            return True
    print(
        f"wait_kafka: broker at {bootstrap} not ready after {seconds:.0f}s "
        f"(last error: {last_error!r})",
        file=sys.stderr,
    )
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--username", help="SASL/SCRAM-SHA-512 user (omit for PLAINTEXT)")
    parser.add_argument("--password-file", help="file holding that user's password")
    args = parser.parse_args()
    auth: dict[str, str] = {}
    if args.username:
        with open(args.password_file, encoding="utf-8") as f:
            auth = {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": args.username,
                "sasl_plain_password": f.read().strip(),
            }
    # aiokafka logs every refused connection while we poll; only our verdict matters.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return 0 if asyncio.run(wait(args.bootstrap, args.timeout, auth)) else 1


if __name__ == "__main__":
    sys.exit(main())
