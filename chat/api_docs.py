"""``GET /api/docs``: the admin API's OpenAPI document as a page people can read."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from chat.openapi import spec

bp = Blueprint("api_docs", __name__)
METHODS = ("get", "post", "put", "delete")


def _type(schema: dict[str, Any]) -> str:
    """A short type for a schema: ``integer``, ``AgentOut``, ``array of QueueStatsOut``..."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    return str(schema.get("type", "any"))


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, item in document["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {})
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "auth": "security" in op,
                    "params": [
                        {**p, "type": _type(p.get("schema", {}))} for p in op.get("parameters", [])
                    ],
                    "body": {mime: _type(c.get("schema", {})) for mime, c in body.items()},
                    "responses": {
                        code: {
                            "description": r.get("description", ""),
                            "content": {
                                mime: _type(c.get("schema", {}))
                                for mime, c in r.get("content", {}).items()
                            },
                        }
                        for code, r in op["responses"].items()
                    },
                }
            )
    return out


def schemas(document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(document["components"]["schemas"].items()):
        required = set(schema.get("required", []))
        fields = [
            {
                "name": f,
                "type": _type(s),
                "required": f in required,
                "doc": s.get("description", ""),
            }
            for f, s in schema.get("properties", {}).items()
        ]
        out.append({"name": name, "doc": schema.get("description", ""), "fields": fields})
    return out


@bp.get("/api/docs")
def api_docs() -> Any:
    document = spec()
    return render_template(
        "api_docs.html",
        info=document["info"],
        operations=operations(document),
        schemas=schemas(document),
    )
