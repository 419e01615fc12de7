"""The PBX call flow both bridges share: one contract, one call record, one state machine.

- `commands`: the router -> PBX command contract (the router's Lua scripts produce each
  command in one place; bridges parse them here) and the command stream, sans-I/O;
- `facts`: what a PBX tells about calls, the same from Asterisk and FreeSWITCH;
- `intents`: what the flow asks a PBX to do, carried out by each bridge its own way;
- `records`: the call record and the call book (in memory, mirrored to Redis);
- `inbound`, `outbound`, `reconcile`: the I/O-free flows (generators of `steps`);
- `policy`: ring margin, staleness and the other decisions taken once for both PBXs;
- `transcript`: the call events a call writes into its session;
- `flow`: which handler a fact or command goes to, in whose order; `drive`: running flows
  with a sync (gevent) or async (asyncio) router client.

It imports `router` and `admin_config`, nothing above them; both bridges import it.
"""
