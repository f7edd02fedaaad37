"""``GET /docs``: the OpenAPI document as one readable HTML page, rendered on the server from
the same document ``/openapi.json`` serves. Self-contained (no scripts, no CDN, one inline
style sheet allowed by its hash), so it works offline and under a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from html import escape
from typing import Any

from ig.api import openapi
from ig.api.http import Router

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;color:#1d1d1f;max-width:72rem;margin:0 auto;padding:1rem 1.5rem 4rem}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
h3{font-size:1.05rem;margin:0 0 .3rem}h4{margin:.8rem 0 .3rem;font-size:.95rem}
article{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
code{font:13px ui-monospace,monospace;background:#f3f3f3;padding:0 .2rem;border-radius:3px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #eee}
th{font-weight:600;background:#fafafa}
.method{display:inline-block;min-width:4.2rem;font:600 13px ui-monospace,monospace;color:#fff;border-radius:3px;
text-align:center;padding:.1rem .3rem;margin-right:.4rem}
.get{background:#2f6f4f}.post{background:#1f5fa6}.put{background:#8a5a00}.delete{background:#a33}
.muted{color:#666}.required{color:#a33;font-size:12px}
nav>ul{columns:2;padding-left:1.2rem}nav>ul>li{break-inside:avoid}nav ul ul{padding-left:.8rem;list-style:none}
"""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode() + "'"
)
_CODE = re.compile(r"``(.+?)``|`([^`]+)`")
_COMPONENT_PREFIX = "#/components/schemas/"


@cache
def page(router: Router) -> bytes:
    return render(openapi.document(router, "/")).encode()


def render(document: dict[str, Any]) -> str:
    info = document["info"]
    operations = _operations_by_tag(document)
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(info['title'])} API</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} API <small class=muted>{escape(info['version'])}</small></h1>",
        f"<p>{_text(info.get('summary', ''))}</p><p>{_text(info.get('description', ''))}</p>",
        f'<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI {escape(document["openapi"])}).</p>',
        _auth(),
        "<nav><h2>Endpoints</h2><ul>",
    ]
    for tag, entries in operations.items():
        parts.append(f'<li><a href="#tag-{escape(tag)}">{escape(tag)}</a><ul>')
        for path, method, operation in entries:
            parts.append(
                f'<li><a href="#{_anchor(operation["operationId"])}"><span class="method {method}">'
                f"{method.upper()}</span><code>{escape(path)}</code></a></li>"
            )
        parts.append("</ul></li>")
    parts.append('<li><a href="#schemas">Schemas</a></li></ul></nav>')
    descriptions = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
    schemas = document["components"]["schemas"]
    for tag, entries in operations.items():
        parts.append(f'<section id="tag-{escape(tag)}"><h2>{escape(tag)}</h2><p>{_text(descriptions.get(tag, ""))}</p>')
        parts += [_operation(path, method, operation, schemas) for path, method, operation in entries]
        parts.append("</section>")
    parts.append('<section id="schemas"><h2>Schemas</h2>')
    for name, schema in schemas.items():
        parts.append(_schema(name, schema))
    parts.append("</section></body></html>")
    return "".join(parts)


def _operations_by_tag(document: dict[str, Any]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    grouped: dict[str, list[tuple[str, str, dict[str, Any]]]] = {t["name"]: [] for t in document.get("tags", [])}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            grouped.setdefault((operation.get("tags") or ["other"])[0], []).append((path, method, operation))
    return {tag: entries for tag, entries in grouped.items() if entries}


def _auth() -> str:
    return (
        "<p>When the server has <code>IG_API_TOKEN</code> set, routes under <code>/v1</code> need "
        "<code>Authorization: Bearer &lt;IG_API_TOKEN&gt;</code>; a signed content URL needs none.</p>"
    )


def _operation(path: str, method: str, operation: dict[str, Any], schemas: dict[str, Any]) -> str:
    parts = [
        f'<article id="{_anchor(operation["operationId"])}"><h3><span class="method {method}">{method.upper()}</span>'
        f"<code>{escape(path)}</code></h3><p><strong>{_text(operation.get('summary', ''))}</strong></p>"
    ]
    if operation.get("description"):
        parts.append(f"<p>{_text(operation['description'])}</p>")
    if operation.get("security"):
        schemes = " or ".join(name for requirement in operation["security"] for name in requirement)
        parts.append(f"<p class=muted>Auth: {escape(schemes)}.</p>")
    if operation.get("parameters"):
        parts.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>")
        for parameter in operation["parameters"]:
            parts.append(
                f"<tr><td><code>{escape(parameter['name'])}</code>{_required(parameter.get('required'))}</td>"
                f"<td>{escape(parameter['in'])}</td><td>{_type(parameter.get('schema', {}))}</td>"
                f"<td>{_text(parameter.get('description', ''))}</td></tr>"
            )
        parts.append("</table>")
    body = operation.get("requestBody")
    if body:
        parts.append("<h4>Request body</h4>")
        if body.get("description"):
            parts.append(f"<p>{_text(body['description'])}</p>")
        parts.append("<ul>" + "".join(_media(t, m) for t, m in body["content"].items()) + "</ul>")
        parts.append(_fields_of(body["content"], schemas))
    parts.append("<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>")
    for status, response in operation["responses"].items():
        media = "".join(_media(t, m) for t, m in response.get("content", {}).items())
        headers = ", ".join(f"<code>{escape(name)}</code>" for name in response.get("headers", {}))
        parts.append(
            f"<tr><td>{escape(status)}</td><td>{_text(response.get('description', ''))}"
            f"{f' <span class=muted>Headers: {headers}.</span>' if headers else ''}</td>"
            f"<td>{'<ul>' + media + '</ul>' if media else '<span class=muted>none</span>'}</td></tr>"
        )
    parts.append("</table>")
    successes = [r for status, r in operation["responses"].items() if status.startswith("2")]
    if successes:
        parts.append(_fields_of(successes[0].get("content", {}), schemas))
    parts.append("</article>")
    return "".join(parts)


def _fields_of(content: dict[str, Any], schemas: dict[str, Any]) -> str:
    """The fields of the first body model in ``content``, so an endpoint reads without jumping."""
    for media in content.values():
        name = media.get("schema", {}).get("$ref", "").removeprefix(_COMPONENT_PREFIX)
        if name in schemas and schemas[name].get("properties"):
            return f"<h4>{escape(name)} fields</h4>" + _fields_table(schemas[name])
    return ""


def _media(media_type: str, media: dict[str, Any]) -> str:
    schema = media.get("schema")
    described = _type(schema) if schema else "the raw bytes"
    return f"<li><code>{escape(media_type)}</code>: {described}</li>"


def _schema(name: str, schema: dict[str, Any]) -> str:
    parts = [f'<article id="{_schema_anchor(name)}"><h3>{escape(name)}</h3>']
    if schema.get("description"):
        parts.append(f"<p>{_text(schema['description'])}</p>")
    if schema.get("properties"):
        parts.append(_fields_table(schema))
    else:
        parts.append(f"<p>Type: {_type(schema)}</p>")
    parts.append("</article>")
    return "".join(parts)


def _fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    rows = [
        f"<tr><td><code>{escape(field)}</code>{_required(field in required)}</td>"
        f"<td>{_type(definition)}</td><td>{_text(definition.get('description', ''))}</td></tr>"
        for field, definition in schema["properties"].items()
    ]
    closed = "<p class=muted>No other fields.</p>" if schema.get("additionalProperties") is False else ""
    return "<table><tr><th>field</th><th>type</th><th>description</th></tr>" + "".join(rows) + "</table>" + closed


def _type(schema: dict[str, Any]) -> str:
    """A short, linked description of a JSON Schema: ``array of Artifact``, ``string | null``."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_COMPONENT_PREFIX)
        return f'<a href="#{_schema_anchor(name)}">{escape(name)}</a>'
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema and "type" not in schema:
            return " | ".join(_type(option) for option in schema[combinator])
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(json.dumps(value))}</code>" for value in schema["enum"])
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        text = " | ".join(escape(str(k)) for k in kind)
    elif kind == "array":
        text = "array of " + _type(schema.get("items", {}))
    else:
        text = escape(str(kind))
    notes = [
        f"{escape(label)} {escape(json.dumps(schema[key]))}"
        for key, label in (
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
            ("maxItems", "at most"),
            ("pattern", "matching"),
            ("format", "format"),
            ("default", "default"),
        )
        if key in schema
    ]
    return text + (f" <span class=muted>({', '.join(notes)})</span>" if notes else "")


def _required(required: Any) -> str:
    return " <span class=required>required</span>" if required else ""


def _text(text: str) -> str:
    """Escaped text with its Markdown code spans as ``<code>``."""
    return _CODE.sub(lambda m: f"<code>{m.group(1) or m.group(2)}</code>", escape(text))


def _anchor(operation_id: str) -> str:
    return "op-" + escape(operation_id)


def _schema_anchor(name: str) -> str:
    return "schema-" + escape(name)
