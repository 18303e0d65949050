"""The long-lived objects a request handler needs, opened in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from streamchat.answers import Answers
from streamchat.fanout import Broker, Subscription
from streamchat.generations import Generations
from streamchat.generations.titles import Titles
from streamchat.limits import Limits
from streamchat.settings import Settings
from streamchat.store import Store
from streamchat.upstream.catalog import Catalog
from streamchat.web.metrics import Metrics
from streamchat.web.streaming import Encoder, EventStream

if TYPE_CHECKING:
    from streamchat.web.auth import Authenticator

__all__ = ["LOCAL_USER", "Services", "current_user", "services", "services_of"]

# The one user of a loopback-only server without accounts.
LOCAL_USER = "local"


@dataclass(slots=True)
class Services:
    settings: Settings
    store: Store
    broker: Broker
    catalog: Catalog
    generations: Generations
    metrics: Metrics
    auth: Authenticator
    limits: Limits
    # The use case of an answer, on the services above.
    answers: Answers = field(init=False)

    def __post_init__(self) -> None:
        self.answers = Answers(
            self.store,
            self.broker,
            self.catalog,
            self.generations,
            self.limits,
            max_message_chars=self.settings.max_message_chars,
            completion_retries=self.settings.v1_upstream_retries,
            max_attachments=self.settings.max_attachments,
            web_search_rounds=self.settings.web_search_rounds,
            idempotency_ttl=min(self.settings.idempotency_ttl, self.settings.replay_ttl),
            titles=Titles(
                self.store, enabled=self.settings.titles, timeout=self.settings.title_timeout
            ),
        )

    def stream(self, subscription: Subscription, encode: Encoder, **options: Any) -> EventStream:
        """The response relaying ``subscription`` to one client, with the server's timings."""
        return EventStream(
            subscription,
            encode,
            metrics=self.metrics,
            heartbeat=self.settings.heartbeat_interval,
            send_timeout=self.settings.send_timeout,
            **options,
        )


async def services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, per request
    # (measured: ~0.2 ms of CPU and a thread hand-off before every answer's first token).
    return services_of(request)


def services_of(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


async def current_user(request: Request) -> str:
    """The id of the user making the request: the single place where credentials are checked."""
    return await services_of(request).auth.user(request)
