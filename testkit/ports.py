"""Loopback ports for the servers and stand-ins that tests and benchmarks start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
