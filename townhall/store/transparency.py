"""The transparency log in the database: appending an entry to the hash chain, reading
pages of it, its head and monthly counts (townhall/domain/moderation.py has the rules)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from townhall.domain import moderation
from townhall.store.models import LogEntry


def head(db: OrmSession) -> LogEntry | None:
    return db.scalar(select(LogEntry).order_by(LogEntry.seq.desc()).limit(1))


def append(db: OrmSession, *, at: datetime, action: str, target_type: str, target: str,
           reason: str, answers: int | None = None, until: datetime | None = None) -> LogEntry:
    """The next entry, chained to the head read in this same transaction. Two writers at
    once both read the same head and both take its number plus one: the primary key lets
    only one of them commit (the caller retries the other; app/moderation.py)."""
    last = head(db)
    fields: dict[str, Any] = {
        "seq": 1 if last is None else last.seq + 1,
        "at": moderation.iso(at), "action": action, "target_type": target_type,
        "target": target, "reason": reason, "role": moderation.OPERATOR_ROLE,
        "answers": answers, "until": moderation.iso(until) if until is not None else None,
    }
    prev = moderation.GENESIS if last is None else last.hash
    entry = LogEntry(**fields, prev_hash=prev, hash=moderation.entry_hash(fields, prev))
    db.add(entry)
    db.flush()
    return entry


def public(entry: LogEntry) -> dict[str, Any]:
    """An entry as published: its public fields, the previous hash and its own."""
    out = {name: getattr(entry, name) for name in moderation.PUBLIC_FIELDS}
    out["prev_hash"] = entry.prev_hash
    out["hash"] = entry.hash
    return out


def newest(db: OrmSession, before: int | None, limit: int) -> list[LogEntry]:
    query = select(LogEntry).order_by(LogEntry.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(LogEntry.seq < before)
    return list(db.scalars(query))


def answered_by(db: OrmSession, seqs: list[int]) -> dict[int, int]:
    """For each of these entries, the latest entry answering it (an appeal's outcome, a
    reinstatement), if any."""
    if not seqs:
        return {}
    rows = db.execute(select(LogEntry.answers, func.max(LogEntry.seq))
                      .where(LogEntry.answers.in_(seqs)).group_by(LogEntry.answers))
    return {answers: seq for answers, seq in rows}


def monthly(db: OrmSession) -> list[dict[str, Any]]:
    """Entries per month, action and reason, newest month first."""
    month = func.substr(LogEntry.at, 1, 7)
    rows = db.execute(select(month, LogEntry.action, LogEntry.reason, func.count())
                      .group_by(month, LogEntry.action, LogEntry.reason)
                      .order_by(month.desc(), LogEntry.action, LogEntry.reason))
    return [{"month": m, "action": a, "reason": r, "count": n} for m, a, r, n in rows]


def every(db: OrmSession) -> Iterator[dict[str, Any]]:
    """Every entry, oldest first, a batch at a time (for verification)."""
    for entry in db.scalars(select(LogEntry).order_by(LogEntry.seq)
                            .execution_options(yield_per=1000)):
        yield public(entry)


def verify_database(db: OrmSession, head_hash: str | None = None
                    ) -> tuple[moderation.Problem | None, int, str]:
    """Check the stored chain; given a head someone recorded earlier, also that it is
    still in the chain (the only way to notice the newest entries removed)."""
    problem, count, last = moderation.verify(every(db))
    if problem is None and head_hash is not None and head_hash != last:
        if db.scalar(select(LogEntry.seq).where(LogEntry.hash == head_hash)) is None:
            problem = moderation.Problem(count + 1, (
                f"the recorded head {head_hash[:16]}… is not in the log: entries after "
                f"{count} were removed, or the log was rewritten"))
    return problem, count, last
