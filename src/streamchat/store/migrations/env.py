"""Alembic environment: runs on the connection that :func:`streamchat.store.migrate.upgrade`
hands over in ``config.attributes["connection"]``; there is no alembic.ini and no logging setup."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from streamchat.store.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run streamchat migrations with streamchat.store.migrate.upgrade")
    run_migrations(connection)


main()
