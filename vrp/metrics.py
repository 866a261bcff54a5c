"""Metrics through OpenTelemetry, rendered for Prometheus: one MeterProvider per process.

Labels are codes from the configuration and vocabulary only (organisation, intervention,
outcome, rejection code, channel, producer, consumer group): never a referral id, a
reference or anything about a person, so every label set stays small and bounded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.decision import Decision, Rejection
from vrp.domain.vocabulary import AgreementStatus

CONTENT_TYPE = CONTENT_TYPE_LATEST
NO_RULE = "no-rule-matched"
EXPIRY_WINDOW = timedelta(days=30)
# Seconds from receipt to decision: sub-second normally, minutes when a service was down.
DECISION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# An API answer: milliseconds normally; seconds only when the database or a limit is in the way.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Receipt to the team's alert: a decision, then a send (SMTP, Notify, a webhook) and its
# retries; hours when a channel was down.
ALERT_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("vrp.outbox.backlog", "", "Outbox rows not yet published to Kafka, by producer."),
    (
        "vrp.outbox.oldest_unpublished",
        "s",
        "Age in seconds of the oldest unpublished outbox row, by producer.",
    ),
    (
        "vrp.consumer.lag",
        "",
        "Events a consumer group has yet to process (embedded: log rows on its topics after "
        "its position; Kafka: end of its partitions minus this member's position).",
    ),
    ("vrp.agreement_flows.expiring", "", "Active agreement flows ending within 30 days."),
    ("vrp.dead_letters", "", "Events dead-lettered and kept for inspection (`vrp status`)."),
    (
        "vrp.acceptances.overdue",
        "",
        "Routed referrals still awaiting acceptance past their respond-by time.",
    ),
    ("vrp.held.awaiting_triage", "", "Held referrals waiting for the hub to triage them."),
    ("vrp.held.oldest", "s", "Age in seconds of the oldest held referral (0 when none)."),
    ("vrp.alerts.failed_open", "", "Alerts that failed for good (`vrp alerts failed`)."),
    ("vrp.webhooks.disabled", "", "Webhook endpoints disabled after 410 Gone."),
    ("vrp.configuration.info", "", "1 for the routing configuration version in force."),
)
"""Observable gauges: (instrument name, unit, description); probes fill their readings."""

Attributes = tuple[tuple[str, str], ...]
Readings = dict[str, dict[Attributes, float]]
Probe = Callable[[], Awaitable[Readings]]
"""Reads current values for observable gauges: {gauge name: {labels: value}}."""


def reason_codes(decision: Decision) -> list[str]:
    """The bounded codes behind a held decision's free-text reasons (its rejection codes)."""
    codes = {str(c.rejection) for c in decision.candidates if c.rejection is not None}
    codes |= {str(b.code) for c in decision.candidates for b in c.blocks}  # every reason
    unknown_sender = str(Rejection.SOURCE_UNKNOWN)
    if any(unknown_sender in r for r in decision.hub_reasons):
        codes.add(unknown_sender)
    return sorted(codes) or [NO_RULE]


def expiring_flows(config: RoutingConfiguration, today: date) -> int:
    """Flows of active agreements whose validity ends within the next 30 days."""
    horizon = today + EXPIRY_WINDOW
    return sum(
        len(a.flows)
        for a in config.agreements
        if a.status is AgreementStatus.ACTIVE
        and a.valid_to is not None
        and today <= a.valid_to <= horizon
    )


class Metrics:
    """The process's instruments, on its own provider and Prometheus registry (no globals,
    so several runtimes in one test process never share counts)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self.registry
        )
        self.provider = MeterProvider(
            metric_readers=[reader], resource=Resource.create({"service.name": service})
        )
        self._probes: list[Probe] = []
        self._readings: Readings = {}
        meter = self.provider.get_meter("vrp")
        self._received = meter.create_counter(
            "vrp.referrals.received", description="Referrals accepted (202), by sender."
        )
        self._decided = meter.create_counter(
            "vrp.referrals.decided", description="First routing decisions, by outcome."
        )
        self._held = meter.create_counter(
            "vrp.referrals.held",
            description="Held referrals, once per distinct rejection code behind the hold.",
        )
        self._latency = meter.create_histogram(
            "vrp.decision",
            unit="s",
            description="Seconds from a referral's receipt to its first decision.",
            explicit_bucket_boundaries_advisory=DECISION_BUCKETS,
        )
        self._attempts = meter.create_counter(
            "vrp.alert.attempts", description="Alert delivery attempts, by channel and outcome."
        )
        self._failed = meter.create_counter(
            "vrp.alerts.failed", description="Alerts that failed for good, by channel."
        )
        self._breaches = meter.create_counter(
            "vrp.sla.breaches",
            description="Acceptance SLAs breached (reminder timers fired), by intervention.",
        )
        self._requests = meter.create_counter(
            "vrp.http.requests",
            description="HTTP requests answered, by route template, method and status class.",
        )
        self._request_seconds = meter.create_histogram(
            "vrp.http.request.duration",
            unit="s",
            description="Seconds to answer an HTTP request, by route template and method.",
            explicit_bucket_boundaries_advisory=HTTP_BUCKETS,
        )
        self._alerted = meter.create_histogram(
            "vrp.referral.alert",
            unit="s",
            description="Seconds from a referral's receipt to the first delivery of the "
            "receiving team's new-referral alert, by channel.",
            explicit_bucket_boundaries_advisory=ALERT_BUCKETS,
        )
        self._reloads = meter.create_counter(
            "vrp.configuration.reloads",
            description="Configuration reloads after its files changed, by result.",
        )
        for result in ("ok", "failed"):
            self._reloads.add(0, {"result": result})  # both series exist before the first
        for name, unit, description in GAUGES:
            meter.create_observable_gauge(
                name, callbacks=[self._observer(name)], unit=unit, description=description
            )

    def _observer(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            values = self._readings.get(name, {})
            return [Observation(v, dict(labels)) for labels, v in values.items()]

        return observe

    def probe(self, probe: Probe) -> None:
        """Add a reader of gauge values, run before each scrape (cheap queries only)."""
        self._probes.append(probe)

    def received(self, source_org: str) -> None:
        """One referral accepted from source_org (a configured organisation id)."""
        self._received.add(1, {"source_org": source_org})

    def decided(self, decision: Decision, seconds: float) -> None:
        """One first decision, seconds after the referral was received."""
        self._decided.add(1, {"outcome": decision.outcome})
        self._latency.record(max(seconds, 0.0))
        if decision.outcome == "held":
            for code in reason_codes(decision):
                self._held.add(1, {"reason": code})

    def attempted(self, channel: str, outcome: str, failed_for_good: bool) -> None:
        """One alert delivery attempt on channel, with its recorded outcome code."""
        self._attempts.add(1, {"channel": channel, "outcome": outcome})
        if failed_for_good:
            self._failed.add(1, {"channel": channel})

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered with status after seconds; route is a template."""
        self._requests.add(
            1,
            {
                "route": route,
                "method": method,
                "status_class": STATUS_CLASSES.get(status // 100, "5xx"),
            },
        )
        self._request_seconds.record(seconds, {"route": route, "method": method})

    def alerted(self, channel: str, seconds: float) -> None:
        """A team's new-referral alert was first delivered on channel, seconds after receipt."""
        self._alerted.record(max(seconds, 0.0), {"channel": channel})

    def reloaded(self, ok: bool) -> None:
        """The process loaded its changed configuration files (ok), or refused them."""
        self._reloads.add(1, {"result": "ok" if ok else "failed"})

    def breached(self, intervention: str) -> None:
        """An intervention did not accept a referral within its acceptance SLA."""
        self._breaches.add(1, {"intervention": intervention})

    async def render(self) -> bytes:
        """The Prometheus text exposition, with gauges read afresh."""
        readings: Readings = {}
        for probe in self._probes:
            for name, values in (await probe()).items():
                readings.setdefault(name, {}).update(values)
        self._readings = readings
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Release the provider (and unregister its collector)."""
        self.provider.shutdown()


def labels(**values: str) -> Attributes:
    """A hashable label set for a probe's readings."""
    return tuple(sorted(values.items()))
