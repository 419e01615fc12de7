"""Content-addressed uploads: type sniffing, limits, per-session visibility."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import redis

from chat.errors import NotFoundError, UploadRefused
from chat.keys import ChatKeys
from chat.settings import DEFAULT_UPLOAD_TYPES
from chat.uploads import FileStore, safe_name, sniff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
pytestmark = pytest.mark.redis


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"0" * 20, "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        ("plain text, ünïcode ✓".encode(), "text/plain"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", None),
        (b"  <!DOCTYPE html><html><script>alert(1)</script>", None),
        (b"<?xml version='1.0'?><svg/>", None),
        (b"MZ\x90\x00\x03\x00\x00\x00", None),
    ],
)
def test_sniff(head: bytes, mime: str | None) -> None:
    assert sniff(head) == mime


def test_safe_name() -> None:
    assert safe_name("../../etc/passwd", "text/plain") == "passwd"
    assert safe_name("C:\\Users\\x\\photo.png", "image/png") == "photo.png"
    assert safe_name("a\x00b\u202e.png", "image/png") == "ab.png"
    assert safe_name("", "image/png") == "file.png"


@pytest.fixture
def store(tmp_path: Path, redis_url: str) -> FileStore:
    return FileStore(
        tmp_path, redis.Redis.from_url(redis_url), ChatKeys(), 1000, DEFAULT_UPLOAD_TYPES
    )


def test_store_is_content_addressed_and_scoped_to_sessions(store: FileStore) -> None:
    a = store.store(io.BytesIO(PNG), "a.png")
    b = store.store(io.BytesIO(PNG), "b.png")
    assert a.sha256 == b.sha256 == hashlib.sha256(PNG).hexdigest()
    assert store.path(a.sha256).read_bytes() == PNG
    assert list((store.root / "tmp").iterdir()) == []
    store.register("s1", a, by="customer")
    assert store.lookup("s1", a.sha256).name == "a.png"
    with pytest.raises(NotFoundError):
        store.lookup("s2", a.sha256)  # same bytes, but never shared in s2
    with pytest.raises(NotFoundError):
        store.lookup("s1", "../" + a.sha256)


def test_limits_and_types_refused_with_clear_messages(store: FileStore) -> None:
    with pytest.raises(UploadRefused, match="larger than the 1000 bytes limit") as e:
        store.store(io.BytesIO(PNG + b"0" * 2000), "big.png")
    assert e.value.code == "file_too_large"
    with pytest.raises(UploadRefused, match="not accepted; allowed: ") as e:
        store.store(io.BytesIO(b"<svg><script>alert(1)</script></svg>"), "x.svg")
    with pytest.raises(UploadRefused, match="empty"):
        store.store(io.BytesIO(b""), "nothing.txt")
    assert list((store.root / "tmp").iterdir()) == []
