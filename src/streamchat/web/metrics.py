"""Prometheus metrics of one app, in a registry of its own (several apps may share a process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streamchat.errors import StreamchatError, UpstreamError

__all__ = ["Metrics"]


class Metrics:
    """Implements :class:`streamchat.generations.Observer`; updated once per answer."""

    def __init__(
        self, record_upstream: Callable[[str, UpstreamError | None], None] | None = None
    ) -> None:
        self.record_upstream = record_upstream
        self.registry = CollectorRegistry()
        self.active = Gauge(
            "streamchat_active_generations", "Answers being generated now.", registry=self.registry
        )
        self.clients = Gauge(
            "streamchat_active_streams", "Client streams open now.", registry=self.registry
        )
        self.slow_writes = Counter(
            "streamchat_slow_client_writes",
            "Stream writes that went through ASGI send and waited: the client read slower "
            "than its answer came, or had gone (streamchat's own server protocol only).",
            registry=self.registry,
        )
        self.ttft = Histogram(
            "streamchat_ttft_seconds",
            "Time from request to first token.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.tokens = Histogram(
            "streamchat_completion_tokens",
            "Completion tokens per answer.",
            buckets=(16, 64, 256, 1024, 4096, 16384, 65536),
            registry=self.registry,
        )
        self.finished = Counter(
            "streamchat_generations_total",
            "Answers ended, by status.",
            ["status"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "streamchat_upstream_errors_total",
            "Upstream failures, by kind.",
            ["kind"],
            registry=self.registry,
        )

    def generation_started(self) -> None:
        self.active.inc()

    def generation_finished(
        self,
        provider: str,
        status: str,
        ttft_s: float | None,
        completion_tokens: int,
        error: StreamchatError | None,
    ) -> None:
        self.active.dec()
        self.finished.labels(status).inc()
        if ttft_s is not None:
            self.ttft.observe(ttft_s)
        self.tokens.observe(completion_tokens)
        upstream_error = error if isinstance(error, UpstreamError) else None
        if upstream_error is not None:
            self.upstream_errors.labels(upstream_error.code).inc()
        if self.record_upstream is not None and (upstream_error or status == "complete"):
            self.record_upstream(provider, upstream_error)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
