"""The ``streamchat`` command: serve, chat, attach, models, mock-upstream, db upgrade.

``serve``'s options are generated from :class:`~streamchat.settings.Settings`, one per field, each
also read from ``STREAMCHAT_<NAME>``; the client commands talk to a running server over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from streamchat.client import Client, ClientError, ReplyPrinter, background_server
from streamchat.errors import StreamchatError
from streamchat.fanout.redis import RedisBroker
from streamchat.logs import configure_logging
from streamchat.mock_upstream import run_mock
from streamchat.settings import ENV_PREFIX, Settings
from streamchat.store.sql import SqlStore
from streamchat.web.app import app_from_environment, create_app
from streamchat.web.auth import hash_token, new_token
from streamchat.web.body_writer import HttpProtocol

__all__ = ["main", "worker_app"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"


def settings_options(func: F) -> F:
    """One click option per Settings field, with its help text and environment variable."""
    for name, field in reversed(list(Settings.option_fields().items())):
        flag = "--" + name.replace("_", "-")
        annotation = field.annotation
        kind: Any = str
        if annotation in (int, float):
            kind = annotation
        if annotation is bool:  # --titles false (true/false, yes/no, 1/0)
            kind = click.BOOL
        if annotation is not None and "Literal" in str(annotation):
            kind = click.Choice(list(annotation.__args__))
        func = click.option(
            flag,
            name,
            type=kind,
            default=None,
            show_envvar=True,
            envvar=ENV_PREFIX + name.upper(),
            help=field.description,
        )(func)
    return func


def load_settings(values: dict[str, Any]) -> Settings:
    try:
        return Settings.load(values)
    except (ValidationError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="streamchat")
def main() -> None:
    """streamchat: a streaming chat gateway for OpenAI-compatible LLM APIs."""


@main.command()
@settings_options
def serve(**values: Any) -> None:
    """Serve the API and the chat page."""
    settings = load_settings(values)
    configure_logging(settings.log_level, secrets=_secrets(settings))
    if settings.auth_required:
        listing = asyncio.run(_with_store(settings.database, lambda store: store.list_users()))
        if not any(has_token for _, has_token in listing):
            raise click.UsageError(
                f"streamchat would listen on {settings.host} with no accounts: create one "
                "with `streamchat users add NAME` (same --database-url / --data-dir), or "
                "serve on 127.0.0.1"
            )
    if settings.workers > 1 and settings.redis_url is None:
        raise click.UsageError(
            "--workers above 1 needs --redis-url: Redis shares the answers between workers"
        )
    if settings.workers > 1:
        # Migrate here, once: workers that each migrate a new database at the same moment
        # race, and the loser's failed startup stops them all (uvicorn then exits with 0).
        try:
            asyncio.run(_with_store(settings.database, _nothing))
        except StreamchatError as exc:
            raise click.ClickException(exc.message) from exc
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": HttpProtocol,  # uvicorn's httptools protocol + the stream body writer
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": int(settings.shutdown_grace) + 5,
    }
    click.echo(f"streamchat on http://{settings.host}:{settings.port}", err=True)
    if settings.workers == 1:
        # uvicorn re-raises the SIGTERM it drained for once it is done, under the handler that
        # was there before it: with the default one the process died with 143 after a clean
        # drain. This one exits 0 (and ends a process signalled before uvicorn took over).
        signal.signal(signal.SIGTERM, _exit_after_drain)
        uvicorn.run(create_app(settings), **options)
        return
    # Worker processes build their app from the environment: hand them every option given.
    for name, value in values.items():
        if value is not None:
            os.environ[ENV_PREFIX + name.upper()] = str(value)
    config = uvicorn.Config(
        "streamchat.cli:worker_app", factory=True, workers=settings.workers, **options
    )
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    # uvicorn stops every worker when one fails to start, then returns as after a SIGTERM.
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        click.echo("streamchat: a worker failed to start (its error is above)", err=True)
        raise SystemExit(STARTUP_FAILURE)


def _exit_after_drain(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def worker_app() -> FastAPI:
    """The app of one worker process of ``serve --workers N``, built from the environment.

    uvicorn turns its access log off in the parent; a worker sets up logging afresh, which would
    turn it back on (a log line per request that one process does not write)."""
    app = app_from_environment()
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    return app


def _secrets(settings: Settings) -> list[str]:
    keys = [p.key(os.environ) for p in settings.providers]
    if settings.metrics_token is not None:
        keys.append(settings.metrics_token.get_secret_value())
    return [k for k in keys if k]


@main.command()
@click.argument("question")
@click.option(
    "--url",
    envvar="STREAMCHAT_URL",
    default=None,
    help=f"A running server (default {DEFAULT_URL}; started in-process if none).",
)
@click.option("--model", "-m", default=None, help="Model id (see `streamchat models`).")
@click.option("--conversation", "-c", default=None, help="Continue this conversation.")
def chat(question: str, url: str | None, model: str | None, conversation: str | None) -> None:
    """Ask a question and stream the answer to the terminal."""
    body: dict[str, Any] = {"message": question}
    if model:
        body["model"] = model
    if conversation:
        body["conversation_id"] = conversation
    with _client(url) as client:
        ok = asyncio.run(client.stream("POST", "/api/chat", body, ReplyPrinter(sys.stdout)))
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("generation_id")
@click.option("--url", envvar="STREAMCHAT_URL", default=DEFAULT_URL, show_default=True)
@click.option("--after", default=0, help="Continue after this event id.")
def attach(generation_id: str, url: str, after: int) -> None:
    """Follow a running (or finished) answer."""
    path = f"/api/generations/{generation_id}/events?after={after}"
    client = Client(url)
    ok = asyncio.run(client.stream("GET", path, None, ReplyPrinter(sys.stdout)))
    sys.exit(0 if ok else 1)


@main.command()
@click.option("--url", envvar="STREAMCHAT_URL", default=None)
def models(url: str | None) -> None:
    """List the models streamchat can route to."""
    with _client(url) as client:
        listing = asyncio.run(client.get_json("/api/models"))
    for model in listing["models"]:
        mark = "*" if model["id"] == listing["default"] else " "
        click.echo(f"{mark} {model['id']:<40} {model['provider']:<12} {model['context_window']}")


@contextlib.contextmanager
def _client(url: str | None) -> Iterator[Client]:
    """A client of ``url``, or of the default server, or of one started in-process."""
    target = url or DEFAULT_URL
    try:
        asyncio.run(Client(target).get_json("/healthz"))
    except ClientError as exc:
        if url is not None:
            raise click.ClickException(str(exc)) from exc
        settings = load_settings({"port": 0})
        configure_logging("warning", secrets=_secrets(settings))
        with background_server(create_app(settings), http=HttpProtocol) as started:
            yield Client(started)
        return
    yield Client(target)


@main.command("mock-upstream")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9100, show_default=True)
@click.option(
    "--dialect",
    default="openai",
    show_default=True,
    type=click.Choice(["openai", "moonshot", "deepseek", "ollama", "vllm"]),
)
@click.option(
    "--api-key",
    default=None,
    envvar="STREAMCHAT_MOCK_API_KEY",
    help="Require this key (Authorization: Bearer).",
)
def mock_upstream(host: str, port: int, dialect: str, api_key: str | None) -> None:
    """Serve the OpenAI-compatible simulator used by tests and benchmarks."""
    run_mock(host, port, dialect, api_key, None)


def database_options(func: F) -> F:
    func = click.option("--database-url", envvar="STREAMCHAT_DATABASE_URL", default=None)(func)
    return click.option(
        "--data-dir", envvar="STREAMCHAT_DATA_DIR", default=None, type=click.Path()
    )(func)


def _database(database_url: str | None, data_dir: str | None) -> str:
    values = {"database_url": database_url, "data_dir": Path(data_dir) if data_dir else None}
    return load_settings(values).database


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@database_options
def db_upgrade(database_url: str | None, data_dir: str | None) -> None:
    """Bring the database schema to the newest migration."""
    asyncio.run(_with_store(_database(database_url, data_dir), _nothing))
    click.echo("database is at the newest schema")


async def _nothing(store: SqlStore) -> None:
    """Opening the store migrates it."""


@main.group()
def users() -> None:
    """Accounts: required when serving on anything but loopback."""


def redis_option(func: F) -> F:
    return click.option(
        "--redis-url",
        envvar="STREAMCHAT_REDIS_URL",
        default=None,
        help="The workers' Redis: they are told of the change at once (else within "
        "--credential-cache-ttl).",
    )(func)


def _announce_revoked(redis_url: str | None, subject: str) -> None:
    if not redis_url:
        return

    async def announce() -> None:
        broker = RedisBroker(redis_url)
        try:
            await broker.announce_revoked(subject)
        finally:
            await broker.close()

    asyncio.run(announce())


@users.command("add")
@click.argument("name")
@database_options
@redis_option
def users_add(
    name: str, database_url: str | None, data_dir: str | None, redis_url: str | None
) -> None:
    """Create NAME (or give it a new token, which ends its sessions) and print its API token,
    once."""
    if not name.replace("-", "_").isidentifier():
        raise click.UsageError("a user name is letters, digits, - and _")
    token = new_token()

    async def give_token(store: SqlStore) -> None:
        await store.set_user_token(name, name, hash_token(token))
        await store.end_sessions(name)  # a new token: the sessions signed in before end too

    asyncio.run(_with_store(_database(database_url, data_dir), give_token))
    _announce_revoked(redis_url, f"user:{name}")  # its old token, if it had one
    click.echo(token)
    click.echo(f"(the API token of {name}: shown once, stored only as a hash)", err=True)


@users.command("list")
@database_options
def users_list(database_url: str | None, data_dir: str | None) -> None:
    """Every user, and whether it can sign in."""
    listing = asyncio.run(
        _with_store(_database(database_url, data_dir), lambda store: store.list_users())
    )
    for user_id, has_token in listing:
        click.echo(f"{user_id}{'' if has_token else '  (no token)'}")


@users.command("remove")
@click.argument("name")
@database_options
@redis_option
def users_remove(
    name: str, database_url: str | None, data_dir: str | None, redis_url: str | None
) -> None:
    """Delete NAME, every conversation it owns and its sessions."""
    try:
        asyncio.run(
            _with_store(_database(database_url, data_dir), lambda store: store.delete_user(name))
        )
    except StreamchatError as exc:
        raise click.ClickException(exc.message) from exc
    _announce_revoked(redis_url, f"user:{name}")
    click.echo(f"removed {name}")


async def _with_store(url: str, action: Callable[[SqlStore], Awaitable[T]]) -> T:
    store = SqlStore(url)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()
