"""The AMI bridge after Redis changed under it (a failover, a restart), without Asterisk:
its command stream's consumer group is made again; a bad Redis URL is a config error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from admin_config.model import load_admin_config
from ami_bridge.bridge import AmiBridge
from ami_bridge.errors import BridgeConfigError
from ami_bridge.settings import settings_from_config
from callflow.commands import BRIDGE_GROUP
from router.client import AsyncRouterClient

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "admin.yaml"

pytestmark = [pytest.mark.redis]


def test_the_command_group_is_made_again_after_redis_changed(redis_url: str, rds) -> None:
    config = load_admin_config(EXAMPLE)
    settings = settings_from_config(config, "ast1", env={"IMPLUS_AST1_AMI_SECRET": "x"})

    async def body() -> list[str]:
        router = AsyncRouterClient.from_url(redis_url)
        bridge = AmiBridge(settings, config, router=router)
        await bridge.router.run(bridge.commands.ensure_group())
        rds.xgroup_destroy(bridge.commands.key, BRIDGE_GROUP)  # a promoted replica lacks it
        assert bridge.redis_watch.answered("run-a") is False
        assert bridge.redis_watch.answered("run-b")  # another server answers now
        await bridge._after_redis_change()  # AMI link down: the group only
        groups = [g["name"] for g in rds.xinfo_groups(bridge.commands.key)]
        await bridge.conn.close()
        await router.close()
        return groups

    assert asyncio.run(body()) == [BRIDGE_GROUP]


def test_a_bad_redis_url_is_a_config_error() -> None:
    config = load_admin_config(EXAMPLE)
    env = {"IMPLUS_AST1_AMI_SECRET": "x", "IMPLUS_REDIS_URL": "redis+sentinel://h:1"}
    with pytest.raises(BridgeConfigError, match="must name the master"):
        settings_from_config(config, "ast1", env=env)
