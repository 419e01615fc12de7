"""The rows the sink wrote lately, kept in memory between batches.

Most events of a batch change rows an earlier batch wrote (a request created in one batch
is offered, answered and ended in the next ones), so the sink keeps the rows it wrote and
reads from the database only those it does not hold. The cache is right only while this
sink is the one writer of those rows: :class:`reports.store.Store` empties it when the
``last_id`` mark is not the one it committed last (another sink wrote), when the
``rows_changed`` mark moved (a prune or an erasure changed rows), and when a batch fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from reports.fold import Row, Rows

LIMIT = 20_000
"""Rows kept per table (the least lately written go first); misses are read from the
database."""


@dataclass
class RowCache:
    """Rows by key per table, and each agent's open status period (None: known to have
    none), as committed."""

    limit: int = LIMIT
    tables: dict[str, dict[str, Row]] = field(
        default_factory=lambda: {t: {} for t in ("contacts", "offers", "sessions")}
    )
    open_periods: dict[str, Row | None] = field(default_factory=dict)

    def clear(self) -> None:
        for rows in self.tables.values():
            rows.clear()
        self.open_periods.clear()

    def split(self, table: str, keys: Iterable[str]) -> tuple[dict[str, Row], list[str]]:
        """The rows of ``keys`` held here, and the keys to read from the database."""
        held = self.tables[table]
        found: dict[str, Row] = {}
        missing: list[str] = []
        for k in keys:
            row = held.get(k)
            if row is None:
                missing.append(k)
            else:
                found[k] = row
        return found, missing

    def agents(self, agents: Iterable[str]) -> tuple[dict[str, Row | None], list[str]]:
        """The open periods of ``agents`` held here, and the agents to read."""
        found: dict[str, Row | None] = {}
        missing: list[str] = []
        for a in agents:
            if a in self.open_periods:
                found[a] = self.open_periods[a]
            else:
                missing.append(a)
        return found, missing

    def keep(self, rows: Rows, agents: Iterable[str]) -> None:
        """Remember the rows of a committed batch (``agents``: those whose events it had)."""
        for table, held in self.tables.items():
            batch: dict[str, Row] = getattr(rows, table)
            for key, row in batch.items():
                held.pop(key, None)  # re-inserted last: the most lately written
                held[key] = row
            _trim(held, self.limit)
        for agent in agents:
            pid = rows.open_periods.get(agent)
            self.open_periods.pop(agent, None)
            self.open_periods[agent] = rows.agent_periods.get(pid) if pid else None
        _trim(self.open_periods, self.limit)


def _trim(rows: dict[str, Any], limit: int) -> None:
    extra = len(rows) - limit
    if extra > 0:
        for key in list(islice(rows, extra)):
            del rows[key]
