"""claims: which node works on which file (several daemons on one database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from indexer.db.common import affected, chunks, table_of
from indexer.db.models import Claim

__all__ = [
    "claim_paths",
    "claims_by_node",
    "db_now",
    "drop_expired_claims",
    "release_claims",
    "renew_claims",
]


def db_now(session: Session) -> datetime:
    """The time by the database's clock on PostgreSQL, so that nodes whose clocks differ
    agree on when a lease ends; SQLite is one machine, whose clock is ours."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(select(func.now())).scalar_one()
    return datetime.now(UTC)


def claim_paths(session: Session, paths: Sequence[str], node: str, lease_seconds: float) -> set[str]:
    """Claim ``paths`` for ``node``; returns the ones it holds now.

    A path claimed by another node whose lease has not run out is left to that node.
    An expired claim (its node died or hung) is taken over; this node's own claims are
    renewed. Two nodes claiming one path at once: the primary key lets one insert win
    (INSERT ... ON CONFLICT DO NOTHING on both databases), the other sees it held.
    """
    if not paths:
        return set()
    now = db_now(session)
    expires = now + timedelta(seconds=lease_seconds)
    dialect = session.get_bind().dialect.name
    insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
    held: set[str] = set()
    for chunk in chunks(sorted(set(paths))):
        session.execute(
            delete(Claim).where(Claim.path.in_(chunk), or_(Claim.expires_at < now, Claim.node == node))
        )
        session.connection().execute(  # one executemany: a 500-row VALUES clause compiled each time cost more
            insert_for(table_of(Claim)).on_conflict_do_nothing(index_elements=["path"]),
            [{"path": p, "node": node, "expires_at": expires} for p in chunk],
        )
        held.update(session.scalars(select(Claim.path).where(Claim.path.in_(chunk), Claim.node == node)))
    return held


def renew_claims(session: Session, paths: Sequence[str], node: str, lease_seconds: float) -> int:
    """Extend ``node``'s leases on ``paths`` (their batch is still being analysed); returns
    how many it still held."""
    expires = db_now(session) + timedelta(seconds=lease_seconds)
    renewed = 0
    for chunk in chunks(sorted(set(paths))):
        statement = update(Claim).where(Claim.node == node, Claim.path.in_(chunk)).values(expires_at=expires)
        renewed += affected(session.execute(statement))
    return renewed


def release_claims(session: Session, paths: Sequence[str], node: str) -> int:
    """Drop ``node``'s claims on ``paths`` (their batch has committed, or was given up)."""
    released = 0
    for chunk in chunks(sorted(set(paths))):
        released += affected(session.execute(delete(Claim).where(Claim.node == node, Claim.path.in_(chunk))))
    return released


def drop_expired_claims(session: Session) -> int:
    """Forget claims whose lease ran out (a dead node's, on files nobody took over)."""
    return affected(session.execute(delete(Claim).where(Claim.expires_at < db_now(session))))


def claims_by_node(session: Session) -> dict[str, int]:
    """node -> number of claims it holds (expired ones included)."""
    return dict(session.execute(select(Claim.node, func.count()).group_by(Claim.node)).all())
