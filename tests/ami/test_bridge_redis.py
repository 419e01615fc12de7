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
from callflow.reconcile import Repairs
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


def test_a_failed_reconciliation_after_link_up_is_tried_again_until_it_succeeds(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Until a reconciliation after a LinkUp succeeds, the bridge reads no commands and
    renews no phone lease: it must not wait for a next LinkUp that may never come."""
    config = load_admin_config(EXAMPLE)
    settings = settings_from_config(config, "ast1", env={"IMPLUS_AST1_AMI_SECRET": "x"})

    async def body() -> tuple[int, int, bool]:
        router = AsyncRouterClient.from_url(redis_url)
        bridge = AmiBridge(settings, config, router=router)
        bridge.link_retry_s = 0.05
        bridge._link_up = True  # as after a LinkUp, but Asterisk answers no action
        await bridge._after_link_up()
        await asyncio.sleep(0.4)
        failed = caplog.text.count("reconciliation after the AMI link came up failed")

        async def answered(full: bool = False) -> Repairs:  # Asterisk answers again
            return Repairs()

        bridge.reconciler.run = answered  # type: ignore[method-assign]
        await asyncio.wait_for(bridge.reconciled.wait(), 2)
        await asyncio.sleep(0.2)
        after = caplog.text.count("reconciliation after the AMI link came up failed")
        ready = bridge._link_ready.is_set()
        await bridge.stop()
        return failed, after, ready

    failed, after, ready = asyncio.run(body())
    assert failed >= 3, caplog.text  # tried again, every 50 ms here
    assert ready and after <= failed + 1  # and no more once it succeeded


def test_no_retry_once_the_link_went_down(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    config = load_admin_config(EXAMPLE)
    settings = settings_from_config(config, "ast1", env={"IMPLUS_AST1_AMI_SECRET": "x"})

    async def body() -> int:
        router = AsyncRouterClient.from_url(redis_url)
        bridge = AmiBridge(settings, config, router=router)
        bridge.link_retry_s = 0.05
        bridge._link_up = True
        await bridge._after_link_up()
        bridge._link_up = False  # a LinkDown: the next LinkUp reconciles
        await asyncio.sleep(0.3)
        await bridge.stop()
        return caplog.text.count("reconciliation after the AMI link came up failed")

    assert asyncio.run(body()) == 1
