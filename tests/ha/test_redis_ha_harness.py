"""The failover harness itself: a node whose port another process holds is started again on
another port, and a server answering on the port that is not the node's own is not taken
for it (a parallel suite's redis-server: CI at 6acff8a)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from redis_ha import Node, PortTaken, free_port, started_on_free_port


def _server_node(folder: Path, port: int) -> Node:
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed: run `make deps`"
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", "."]
    return Node(f"redis-{port}", port, folder / str(port), args)


def test_a_port_held_by_a_listener_is_reported_as_taken(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        node = _server_node(tmp_path, held.getsockname()[1])
        with pytest.raises(PortTaken):
            node.start()
        assert not node.alive()


def test_another_server_on_the_port_is_not_taken_for_the_node(tmp_path: Path) -> None:
    other = _server_node(tmp_path / "other", free_port())
    other.start()
    try:
        node = _server_node(tmp_path, other.port)
        with pytest.raises(PortTaken):
            node.start()
    finally:
        other.stop()


def test_the_node_is_started_again_on_another_port(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ports = iter([held.getsockname()[1]])
        node = started_on_free_port(lambda port: _server_node(tmp_path, next(ports, port)))
        try:
            assert node.port != held.getsockname()[1]
            out = subprocess.run(
                ["redis-cli", "-p", str(node.port), "PING"], capture_output=True, text=True
            )
            assert out.stdout.strip() == "PONG"
        finally:
            node.stop()
