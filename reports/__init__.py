"""implus reports: the durable history of routing and calls, and the reports built on it.

The router's ``events`` stream is trimmed (about 500,000 entries), so it cannot say what
last week's service level was. ``implus reports sink`` reads it through its own consumer
group and keeps every event, and what each routing request, offer, session and agent
status became, in a SQL database (SQLite by default, PostgreSQL in production). The
report functions (:mod:`reports.figures`) read that database; the chat service serves
them to supervisors. Imports only :mod:`router` of the project.
"""
