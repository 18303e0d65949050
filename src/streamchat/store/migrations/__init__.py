"""Alembic migrations of the store schema; run them with :func:`streamchat.store.migrate.upgrade`.

Append-only: a released revision is never edited, a change is a new revision.
"""
