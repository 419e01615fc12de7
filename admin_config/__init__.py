"""The admin configuration: one YAML file describing PBXs, services, entry points, agents and
trunks (docs/admin-config.md).

Its model and validation (`model`, `validate`, `checks`), the names and dial targets the
generated dialplan and the bridges share (`targets`), the agent profiles the router gets
(`agents`), secrets from the environment (`secrets`) and the reload contract a PBX bridge
implements (`reloading`). `dialplan` renders it; both bridges read it; it imports neither.
"""
