"""Which models exist and which upstream serves each: configured ones merged with each provider's
own ``GET /models``, cached for ``models_cache_ttl`` seconds.

A model is named by its id as the provider lists it (``moonshot-v1-8k``) or, when two providers
list the same id, as ``provider/id``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from streamchat.errors import UnknownModel, UpstreamError
from streamchat.settings import Settings
from streamchat.upstream import ModelInfo
from streamchat.upstream.connections import Pool
from streamchat.upstream.demo import DemoUpstream
from streamchat.upstream.openai import Deadlines, OpenAICompatible

__all__ = ["Catalog", "Provider", "ProviderState", "build_upstreams"]

log = logging.getLogger("streamchat.upstream")

Provider = OpenAICompatible | DemoUpstream


def build_upstreams(
    settings: Settings, session: aiohttp.ClientSession, environ: Mapping[str, str]
) -> list[Provider]:
    deadlines = Deadlines(
        settings.first_token_timeout, settings.token_gap_timeout, settings.total_timeout
    )
    pool = Pool(connect_timeout=settings.connect_timeout)  # every provider's token streams
    providers: list[Provider] = [
        OpenAICompatible(config, session, pool, deadlines, environ) for config in settings.providers
    ]
    providers.append(DemoUpstream(settings.demo_token_rate))
    return providers


@dataclass(slots=True)
class ProviderState:
    ok: bool | None = None
    error: str | None = None
    listed_at: float = 0.0


class Catalog:
    def __init__(
        self, providers: Sequence[Provider], default_model: str | None, ttl: float
    ) -> None:
        self.providers = list(providers)
        self._by_name = {p.name: p for p in self.providers}
        self.ttl = ttl
        self.state = {p.name: ProviderState() for p in self.providers}
        self._models: dict[str, list[ModelInfo]] = {
            p.name: (p.configured_models() if isinstance(p, OpenAICompatible) else [])
            for p in self.providers
        }
        self._demo = next(p for p in self.providers if isinstance(p, DemoUpstream))
        self._models[self._demo.name] = [self._demo.model_info(m) for m in self._demo.models]
        self._configured_default = default_model
        self._lock = asyncio.Lock()

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for p in self.providers for s in p.secrets)

    @property
    def default_model(self) -> str:
        if self._configured_default:
            return self._configured_default
        for provider in self.providers:
            models = self._models.get(provider.name)
            if provider is not self._demo and models:
                return models[0].id
        return "demo"

    async def refresh(self, force: bool = False) -> None:
        """Re-list every provider whose list is older than the TTL, concurrently."""
        async with self._lock:
            now = time.monotonic()
            due = [
                p
                for p in self.providers
                if p is not self._demo and (force or now - self.state[p.name].listed_at >= self.ttl)
            ]
            await asyncio.gather(*(self._list(p, now) for p in due))

    async def _list(self, provider: Provider, now: float) -> None:
        state = self.state[provider.name]
        state.listed_at = now
        try:
            self._models[provider.name] = await provider.list_models()
        except UpstreamError as exc:
            state.ok, state.error = False, exc.message
            log.warning("listing models of %s failed: %s", provider.name, exc.message)
        else:
            state.ok, state.error = True, None

    def models(self) -> list[ModelInfo]:
        seen: set[str] = set()
        result = []
        for provider in self.providers:
            for model in self._models.get(provider.name, []):
                key = model.id if model.id not in seen else f"{provider.name}/{model.id}"
                seen.add(model.id)
                result.append(model if key == model.id else dataclasses.replace(model, id=key))
        return result

    async def resolve(self, model: str | None) -> tuple[Provider, ModelInfo]:
        """The provider and model info for ``model`` (default when None); UnknownModel if none."""
        wanted = model or self.default_model
        found = self._find(wanted)
        if found is None and any(
            time.monotonic() - s.listed_at >= self.ttl for s in self.state.values()
        ):
            await self.refresh()
            found = self._find(wanted)
        if found is None:
            names = ", ".join(m.id for m in self.models()[:20])
            raise UnknownModel(
                f"unknown model {wanted!r}; available: {names}", details={"model": wanted}
            )
        return found

    def _find(self, wanted: str) -> tuple[Provider, ModelInfo] | None:
        provider_name, _, bare = wanted.partition("/")
        explicit = self._by_name.get(provider_name) if bare else None
        if explicit is not None:
            for info in self._models.get(explicit.name, []):
                if info.id == bare:
                    return explicit, info
        for provider in self.providers:
            for info in self._models.get(provider.name, []):
                if info.id == wanted:
                    return provider, info
        return None

    def provider(self, name: str) -> Provider | None:
        """The provider named ``name`` (a ModelInfo's ``provider``)."""
        return self._by_name.get(name)

    def record(self, provider: str, error: UpstreamError | None) -> None:
        """Remember the outcome of the last call to ``provider`` for /healthz."""
        state = self.state.get(provider)
        if state is not None:
            state.ok = error is None or error.code not in ("upstream_auth", "upstream_connect")
            state.error = None if error is None else error.message

    async def close(self) -> None:
        for provider in self.providers:
            await provider.close()
