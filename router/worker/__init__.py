"""The allocation workers (``implus router``): :class:`Worker` runs rounds of allocation
(``allocator``) over what it knows (``view``), beside its chores (``housekeeping``)."""

from router.worker.loop import Worker
from router.worker.settings import WorkerSettings, WorkerStats

__all__ = ["Worker", "WorkerSettings", "WorkerStats"]
