"""Bring a database to the newest schema with Alembic, from code: no alembic.ini is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from streamchat.store.engine import translate_errors

__all__ = ["MIGRATIONS_DIR", "alembic_config", "upgrade", "upgrade_on"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for our migrations, running on ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Run ``alembic upgrade head`` in one transaction; a no-op when already there."""
    password = engine.url.password
    with translate_errors([password] if isinstance(password, str) and password else []):
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_on)


def upgrade_on(connection: Connection) -> None:
    """``alembic upgrade head`` on ``connection``, inside the caller's transaction."""
    command.upgrade(alembic_config(connection), "head")
