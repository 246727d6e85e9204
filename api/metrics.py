"""Prometheus metrics of one app instance.

Every app gets its own ``CollectorRegistry`` (never the process-global default), so several apps
can live in one process, as they do in the tests.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Meta wants an answer within a few seconds; buckets resolve the 250 ms median target
# (docs/operating.md#performance).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's counters and histograms, registered on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhook_requests = Counter(
            "whatsapp_webhook_requests",
            "Webhook POSTs by result (accepted, bad_signature, invalid, too_large, unavailable).",
            ["result"],
            registry=self.registry,
        )
        self.webhook_items = Counter(
            "whatsapp_webhook_items",
            "Items of accepted webhooks by kind (message, status, ignored, invalid, expired, "
            "unknown_account).",
            ["kind"],
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "whatsapp_webhook_seconds",
            "Time to answer a webhook POST, including the hand-off to Temporal.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.signals = Counter(
            "temporal_signals_sent",
            "Signals sent to conversation workflows, by signal name.",
            ["signal"],
            registry=self.registry,
        )
        self.settings_deliveries = Counter(
            "settings_deliveries",
            "Settings saves by how their delivery to running sessions began (started, deferred).",
            ["status"],
            registry=self.registry,
        )
        self.reminder_statuses = Counter(
            "reminder_delivery_statuses",
            "Delivery status webhooks applied to reminders, by status (sent, delivered, read, "
            "failed) and the reminder's resulting outcome.",
            ["status", "outcome"],
            registry=self.registry,
        )

        self.opt_keywords = Counter(
            "opt_keyword_messages",
            "Customer messages that opted their contact out or back in by keyword, by keyword "
            "list (opt_out, opt_in); a redelivered one counts again.",
            ["keyword"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format of everything registered here."""
        return generate_latest(self.registry)
