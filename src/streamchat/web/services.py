"""The long-lived objects a request handler needs, opened in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from streamchat.fanout import Broker
from streamchat.generations import Generations
from streamchat.settings import Settings
from streamchat.store import Store
from streamchat.upstream.catalog import Catalog
from streamchat.web.metrics import Metrics

__all__ = ["LOCAL_USER", "Services", "current_user", "services"]

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


def services(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


def current_user(request: Request) -> str:
    """The id of the user making the request: the single place where credentials are checked."""
    return LOCAL_USER
