"""Call recordings: finding the file of a transcript entry, serving it, deleting old ones.

The PBX writes each recording into its own recordings folder under the name the call flow
chose (`<service>/<YYYY-MM-DD>/<call>-<ms>.wav`, see callflow/recording.py) and the
transcript entry `call.recording` names it with its PBX. This machine reaches each PBX's
folder at `recordings_dirs[pbx]` (a mount, the sandbox's chroot...), else at the folder
the admin YAML gives the PBX. Only names of that shape are ever opened, and only inside
those folders. Retention is per service (`recording.retention_days` in the admin YAML);
`prune` deletes what is older, the chat service runs it every `prune_interval_s` and
`implus chat prune-recordings` on demand.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chat.errors import ConfigError, NotFoundError
from chat.settings import Settings

log = logging.getLogger(__name__)

NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/\d{4}-\d{2}-\d{2}/[A-Za-z0-9][A-Za-z0-9_.-]{0,160}\.wav$"
)
"""What a recording's name looks like (callflow.recording.file_name)."""
DAY_S = 86400


@dataclass
class RecordingStore:
    """The recordings folders of the PBXs, as this machine sees them."""

    dirs: Mapping[str, Path]
    retention_days: Mapping[str, int] = field(default_factory=dict)
    """Per service; others get `default_days`."""
    default_days: int = 90
    supervisors: frozenset[str] | None = None
    """Supervisors with a phone (None: no admin YAML to tell)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordingStore:
        """The folders and retentions the settings and the admin YAML give."""
        dirs = {k: Path(v) for k, v in settings.recordings_dirs.items()}
        retention: dict[str, int] = {}
        supervisors = None
        if settings.admin_config is not None:
            from admin_config.errors import ConfigInvalid
            from admin_config.model import load_admin_config

            try:
                config = load_admin_config(settings.admin_config)
            except ConfigInvalid as e:
                raise ConfigError(f"admin_config {settings.admin_config}: {e}") from None
            for pbx in config.pbxs:
                dirs.setdefault(pbx.id, Path(pbx.recordings_root))
            for service in config.services:
                if service.recording is not None:
                    retention[service.id] = service.recording.retention_days
            supervisors = frozenset(s.id for s in config.supervisors)
        return cls(dirs, retention, settings.recording_retention_days, supervisors)

    def locate(self, pbx: str, name: str) -> Path:
        """The file of recording `name` made on `pbx`; NotFoundError if there is none."""
        root = self.dirs.get(pbx)
        if root is None or not NAME.match(name) or ".." in name.split("/"):
            raise NotFoundError("no such recording")
        path = root / name
        if not path.is_file():
            raise NotFoundError(
                "the recording's file is not here (deleted after its retention, or the "
                "recordings_dirs setting does not reach the PBX's folder)"
            )
        return path

    def prune(self, now: float | None = None, dry_run: bool = False) -> list[Path]:
        """Delete recordings older than their service's retention; the deleted files."""
        now = time.time() if now is None else now
        gone: list[Path] = []
        for root in self.dirs.values():
            if not root.is_dir():
                continue
            for service in root.iterdir():
                if not service.is_dir():
                    continue
                days = self.retention_days.get(service.name, self.default_days)
                cutoff = now - days * DAY_S
                for day in service.iterdir():
                    gone += self._prune_day(root, day, cutoff, dry_run)
        return gone

    def _prune_day(self, root: Path, day: Path, cutoff: float, dry_run: bool) -> list[Path]:
        if not day.is_dir():
            return []
        gone = []
        for f in day.iterdir():
            name = f.relative_to(root).as_posix()
            if f.is_file() and NAME.match(name) and f.stat().st_mtime < cutoff:
                if not dry_run:
                    f.unlink(missing_ok=True)
                gone.append(f)
        if not dry_run and not any(day.iterdir()):
            day.rmdir()
        return gone


class RecordingPruner(threading.Thread):
    """Deletes recordings past their retention every `prune_interval_s` seconds."""

    def __init__(self, store: RecordingStore, interval_s: float) -> None:
        super().__init__(name="chat-recording-pruner", daemon=True)
        self.store = store
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s):
            try:
                gone = self.store.prune()
                if gone:
                    log.info("deleted %d recordings past their retention", len(gone))
            except OSError as e:
                log.warning("deleting old recordings failed (%s); retrying later", e)
