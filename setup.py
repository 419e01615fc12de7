"""Packaging for implus: one distribution, the packages of the design card, one console command."""

from pathlib import Path

from setuptools import setup

setup(
    name="implus",
    version="0.1.0",
    description="Omnichannel contact-centre router for your own Asterisk/FreeSWITCH and web chat",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=[
        "router",
        "admin_config",
        "callflow",
        "chat",
        "ami_bridge",
        "esl_bridge",
        "dialplan",
        "devstack",
        "reports",
    ],
    package_data={
        "router": ["lua/*.lua", "strategy/rule_engine_tables.json"],
        "chat": [
            "static/*",
            "static/desktop/*",
            "static/shared/*",
            "static/wallboard/*",
            "static/widget/*",
            "templates/*",
        ],
        "dialplan": ["templates/*"],
        "devstack": ["scenarios/*.xml"],
        "reports": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
    },
    install_requires=[
        "redis>=5.0",
        "hiredis>=2.0",  # C reply parser: redis-py's pure-Python one dominates routing time
        "orjson>=3.9",  # the ESL bridge decodes ~70 KB of JSON events per call
        "rule-engine>=4.5",
        "PyYAML>=6.0",
        "click>=8.1",
        "pydantic>=2.5",
        "sortedcontainers>=2.4",
        "Flask>=3.0",
        "flask-sock>=0.7",
        "gunicorn>=22",
        "gevent>=24",
        "panoramisk==1.4",
        "uvloop>=0.19; sys_platform != 'win32'",  # the AMI bridge's event loop, in C
        "greenswitch==0.0.19",
        "argon2-cffi>=23",
        "itsdangerous>=2.1",
        "prometheus-client>=0.20",
        "SQLAlchemy>=2.0",
        "alembic>=1.13",
        "psycopg[binary]>=3.1",  # PostgreSQL driver of the reports database
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6",
            "playwright>=1.45",
            "websocket-client>=1.8",
            "ruff>=0.6",
            "mypy>=1.10",
            "types-PyYAML",
        ],
    },
    entry_points={
        "console_scripts": ["implus = router.cli:main"],
        # Each package adds its own subcommands; the router core imports none of them.
        "implus.commands": [
            "sandbox = devstack.cli:sandbox_group",
            "up = devstack.stack:up_command",
            "chat = chat.cli:chat_command",
            "dialplan = dialplan.cli:dialplan_group",
            "ami-bridge = ami_bridge.cli:ami_bridge_command",
            "esl-bridge = esl_bridge.cli:esl_bridge_command",
            "reports = reports.cli:reports_group",
        ],
        # How `implus dialplan apply` reloads each kind of PBX (admin_config.reloading).
        "implus.reloaders": [
            "asterisk = ami_bridge.reload:AmiReloader",
            "freeswitch = esl_bridge.reload:EslReloader",
        ],
    },
)
