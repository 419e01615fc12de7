"""Agents' and supervisors' phone problems in the admin config, each reported with its YAML
path (table-driven): home PBX, endpoints and their clashes, SIP passwords, ids, capacity and
skills."""

from __future__ import annotations

from config_problems import Case, Mutate, append_item, check_problem, set_key
from dialplan_helpers import WriteConfig


def dave(endpoint: str) -> Mutate:
    """A fourth agent, dave on ast1, with this endpoint."""
    return append_item(
        "agents", {"id": "dave", "pbx": "ast1", "password_env": "T_PW_1001", "endpoint": endpoint}
    )


CASES: list[Case] = [
    (
        "agent without endpoint",
        set_key("agents.0.endpoint", "-"),
        "agents[0].endpoint",
        "has no SIP endpoint",
    ),
    (
        "agent home PBX unknown",
        set_key("agents.0.pbx", "ast9"),
        "agents[0].pbx",
        "unknown PBX 'ast9' (known: ast1, fs1)",
    ),
    ("agent with phone but no PBX", set_key("agents.0.pbx", "-"), "agents[0].pbx", "no home PBX"),
    (
        "duplicate agent id",
        set_key("agents.1.id", "alice"),
        "agents[1].id",
        "duplicate id 'alice' (also agents[0])",
    ),
    (
        "negative capacity",
        set_key("agents.0.capacity", {"chat": -1}),
        "agents[0].capacity.chat",
        "greater than or equal to 0",
    ),
    (
        "negative skill level",
        set_key("agents.0.skills", {"booking": -2}),
        "agents[0].skills.booking",
        "greater than or equal to 0",
    ),
    (
        "FreeSWITCH agent without password",
        set_key("agents.1.password_env", "-"),
        "agents[1].password_env",
        "needs a password",
    ),
    (
        "Asterisk phone without password or contact",
        set_key("agents.0.password_env", "-"),
        "agents[0].password_env",
        "needs a SIP password",
    ),
    ("endpoint differing by a dash", dave("10-01"), "agents[3].endpoint", "only in '-' or case"),
    ("duplicate endpoint", dave("1001"), "agents[3].endpoint", "already agents[0]'s"),
    (
        "endpoint equal to an entry extension",
        dave("800"),
        "agents[3].endpoint",
        "also entry_points[0]'s extension '800'",
    ),
    ("reserved endpoint prefix", dave("implus-x"), "agents[3].endpoint", "reserved"),
    (
        "FreeSWITCH pre-processor word in an id",
        set_key("agents.1.id", "bob-X-Pre-Process"),
        "agents[1].id",
        "holds 'X-PRE-PROCESS', the FreeSWITCH configuration pre-processor's directive",
    ),
    (
        "supervisor on an unknown PBX",
        set_key("supervisors.0.pbx", "ast9"),
        "supervisors[0].pbx",
        "unknown PBX 'ast9'",
    ),
    (
        "supervisor on an agent's phone",
        set_key("supervisors.0.endpoint", "1001"),
        "supervisors[0].endpoint",
        "already agents[0]'s",
    ),
    (
        "supervisor phone without password or contact",
        set_key("supervisors.0.contact", "-"),
        "supervisors[0].password_env",
        "needs a SIP password",
    ),
]


def test_problem_is_reported_with_its_path(write_config: WriteConfig, problem: Case) -> None:
    check_problem(write_config, problem)
