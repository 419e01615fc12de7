"""Files and images shared in a chat, stored content-addressed on disk by sha256.

The type is decided by sniffing the bytes, never by the name or the client's
Content-Type, and only types in the allow-list are kept. HTML, SVG and XML are never
accepted (they can carry script). Which session a file belongs to is recorded in Redis
(`chat:files:<session>`), and files are served back only to that session's participants.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import redis

from chat.errors import NotFoundError, Unavailable, UploadRefused
from chat.keys import ChatKeys

SHA256 = re.compile(r"^[0-9a-f]{64}$")
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Raster images may be shown inline; everything else is served as an attachment."""
CHUNK = 64 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A file as shared in a session (the same bytes may be shared under other names)."""

    sha256: str
    name: str
    size: int
    mime: str

    @property
    def inline(self) -> bool:
        return self.mime in INLINE_TYPES

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def human_size(n: int) -> str:
    """``5 MB``, ``200 KB``, ``512 bytes`` (binary units, as file managers show them)."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size:
            value = n / size
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value == int(value)
                else f"{value:.1f} {unit}"
            )
    return f"{n} bytes"


def too_large(limit: int) -> UploadRefused:
    """The refusal of a file over the size limit, naming the limit."""
    return UploadRefused(
        f"the file is larger than the {human_size(limit)} limit: send a smaller one",
        code="file_too_large",
    )


def sniff(head: bytes) -> str | None:
    """The MIME type the leading bytes prove, or None when we cannot tell (refused)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the sniff boundary
            return None
        text = head[: e.start].decode("utf-8")
    lowered = text.lstrip().lower()
    if lowered.startswith(("<", "<?xml")) and any(
        tag in lowered[:1024] for tag in ("<html", "<script", "<svg", "<!doctype", "<?xml", "<body")
    ):
        return None  # markup: could run script if a browser ever rendered it
    return "text/plain"


def safe_name(name: object, mime: str) -> str:
    """A display/download name without paths, control characters or surprises."""
    raw = name if isinstance(name, str) else ""
    raw = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(
        c for c in unicodedata.normalize("NFC", raw) if unicodedata.category(c)[0] != "C"
    ).strip(" .")
    if not cleaned:
        cleaned = "file" + {
            "image/png": ".png",
            "image/jpeg": ".jpg",
            "image/gif": ".gif",
            "image/webp": ".webp",
            "application/pdf": ".pdf",
        }.get(mime, ".txt")
    return cleaned[:200]


class FileStore:
    """Content-addressed blobs under ``root/ab/cd/<sha256>`` plus the per-session index."""

    def __init__(
        self,
        root: Path,
        rds: redis.Redis,
        keys: ChatKeys,
        max_bytes: int,
        types: tuple[str, ...],
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.types = frozenset(types)
        self._r = rds
        self._k = keys
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise NotFoundError("no such file")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def store(self, stream: BinaryIO, name: object) -> StoredFile:
        """Read the upload (stops reading past the limit), check it and keep it."""
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise too_large(self.max_bytes)
                    if len(head) < 2048:
                        head += chunk[: 2048 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise UploadRefused("file is empty", code="file_empty")
            mime = sniff(head)
            if mime is None or mime not in self.types:
                allowed = ", ".join(sorted(self.types))
                raise UploadRefused(
                    f"this kind of file is not accepted; allowed: {allowed}",
                    code="file_type",
                )
            sha = digest.hexdigest()
            final = self.path(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # same bytes, same name: replacing is harmless
            os.chmod(final, 0o640)
            tmp = ""
            return StoredFile(sha, safe_name(name, mime), size, mime)
        finally:
            if tmp:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def register(self, session_id: str, f: StoredFile, by: str) -> None:
        """Record that ``f`` was shared in the session (so its participants may fetch it)."""
        meta = f.to_dict() | {"by": by}
        try:
            self._r.hset(self._k.files(session_id), f.sha256, json.dumps(meta))
        except redis.RedisError as e:
            raise Unavailable(f"cannot record the file in Redis: {e}") from e

    def lookup(self, session_id: str, sha256: str) -> StoredFile:
        """The file as shared in the session; NotFoundError if it was not shared there."""
        if not SHA256.match(sha256):
            raise NotFoundError("no such file in this session")
        try:
            raw = self._r.hget(self._k.files(session_id), sha256)
        except redis.RedisError as e:
            raise Unavailable(f"cannot read the file index from Redis: {e}") from e
        if raw is None or not self.path(sha256).is_file():
            raise NotFoundError("no such file in this session")
        meta = json.loads(raw)
        return StoredFile(sha256, meta["name"], int(meta["size"]), meta["mime"])
