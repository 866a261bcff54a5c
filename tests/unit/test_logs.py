"""Process logs: JSON lines with the current span's ids and no exception values, text by
default, and library repeats still summarised."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from vrp import logs

NHS_NUMBER = "9434765870"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Somewhere for configure() to write; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {n: logging.getLogger(n).level for n in ("aiokafka", "alembic")}
    yield io.StringIO()
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    for name, was in libraries.items():
        logging.getLogger(name).setLevel(was)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_logger_service_and_the_current_span(stream: io.StringIO) -> None:
    logs.configure(log_format="json", stream=stream)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("vrp.test").warning("relay: broker %s unreachable", "b1")
    logging.getLogger("services.test").info("outside any span")
    inside, outside = lines(stream)
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert (inside["level"], inside["logger"]) == ("WARNING", "vrp.test")
    assert inside["message"] == "relay: broker b1 unreachable"
    assert inside["time"].endswith("Z") and "T" in inside["time"]
    assert isinstance(inside["service"], str) and inside["service"]
    assert "trace_id" not in outside and "span_id" not in outside
    assert outside["level"] == "INFO"


def test_exceptions_give_type_and_frames_never_their_values(stream: io.StringIO) -> None:
    logs.configure(log_format="json", stream=stream)
    log = logging.getLogger("vrp.test")
    for level in (logging.ERROR, logging.WARNING):
        try:
            raise ValueError(f"duplicate key nhs_number={NHS_NUMBER}")
        except ValueError:
            log.log(level, "could not store the referral", exc_info=True)
    error, warning = lines(stream)
    assert error["exception"] == "builtins.ValueError"
    assert "test_logs.py" in error["stack"]  # where it was raised
    assert warning["exception"] == "builtins.ValueError" and "stack" not in warning
    assert NHS_NUMBER not in stream.getvalue()


def test_text_is_the_default_and_the_setting_selects_json(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VRP_LOG_FORMAT", raising=False)
    logs.configure(stream=stream)
    logging.getLogger("vrp.test").info("as text")
    assert stream.getvalue().rstrip().endswith("INFO vrp.test as text")
    monkeypatch.setenv("VRP_LOG_FORMAT", "json")
    again = io.StringIO()
    logs.configure(stream=again)  # replaces the first handler rather than adding a second
    logging.getLogger("vrp.test").info("as json")
    assert [e["message"] for e in lines(again)] == ["as json"]
    assert "as json" not in stream.getvalue()


def test_library_repeats_are_summarised_in_json(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(logs, "time", SimpleNamespace(monotonic=lambda: now[0]))
    logs.configure(log_format="json", stream=stream)
    client = logging.getLogger("aiokafka")
    for _ in range(5):
        client.error("Unable connect to %s", "127.0.0.1:9092")
    ours = logging.getLogger("vrp.relay")
    for _ in range(2):
        ours.error("relay: broker down")  # our own loggers log state changes: never throttled
    now[0] += 31
    client.error("Unable connect to %s", "127.0.0.1:9092")
    entries = lines(stream)
    assert [e["logger"] for e in entries] == ["aiokafka", "vrp.relay", "vrp.relay", "aiokafka"]
    summary = entries[-1]
    assert summary["repeated"] == 4
    assert summary["message"].startswith("Unable connect to 127.0.0.1:9092 [repeated 4 more")
    assert "repeated" not in entries[0]


def test_the_kafka_clients_unreachable_broker_lines_are_left_to_our_own(
    stream: io.StringIO,
) -> None:
    logs.configure(log_format="json", stream=stream)
    client = logging.getLogger("aiokafka")
    client.error("Unable connect to node with id %s: %s", 1, "[Errno 111] Connection refused")
    client.error("Unable to update metadata from %s", [1])
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "Group Coordinator Request failed: %s", "NodeNotReadyError: node 1 not ready"
    )
    refused = "[Error 58] SaslAuthenticationFailed: Authentication failed (invalid credentials)"
    client.error('Unable connect to "%s": %s', "127.0.0.1:9092", refused)
    logging.getLogger("aiokafka.consumer.group_coordinator").warning(
        "Marking the coordinator dead (node %s) for group %s", 1, "vrp-router"
    )
    logging.getLogger("vrp.relay").warning("relay router: broker: lost (KafkaConnectionError)")
    messages = [e["message"] for e in lines(stream)]
    assert messages == [
        f'Unable connect to "127.0.0.1:9092": {refused}',  # a refused login stays
        "Marking the coordinator dead (node 1) for group vrp-router",
        "relay router: broker: lost (KafkaConnectionError)",
    ]


def test_text_lines_inside_a_span_carry_its_ids(stream: io.StringIO) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    logs.configure(log_format="text", stream=stream)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("vrp.relay").info("inside")
    logging.getLogger("vrp.relay").info("outside")
    inside, outside = stream.getvalue().splitlines()
    context = span.get_span_context()
    assert inside.endswith(
        f"inside trace_id={context.trace_id:032x} span_id={context.span_id:016x}"
    )
    assert outside.endswith("outside")
