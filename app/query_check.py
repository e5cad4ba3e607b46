"""One rule for where parameters go, enforced: a URL parameter that the route does not take is a 422 saying where
it belongs (a form field, a JSON body field) or which URL parameters there are, instead of being ignored
(`POST /explain?model=foo` once explained with the default model).

The accepted names come from the app's own OpenAPI schema, so the rule and the documentation cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from fastapi import FastAPI, Request

from app.errors import ApiError


@dataclass(frozen=True)
class RouteParameters:
    """What one operation takes, by where it goes."""

    query: frozenset[str]
    form: frozenset[str] = field(default_factory=frozenset)
    json: frozenset[str] = field(default_factory=frozenset)


def schema_properties(schema: dict, components: dict) -> frozenset[str]:
    """Property names of a (possibly referenced, possibly optional) object schema."""
    for option in [schema, *schema.get("anyOf", []), *schema.get("allOf", [])]:
        ref = option.get("$ref")
        if ref:
            option = components.get(ref.rsplit("/", 1)[-1], {})
        if option.get("properties"):
            return frozenset(option["properties"])
    return frozenset()


@lru_cache(maxsize=4)
def parameters_by_operation(app: FastAPI) -> dict[tuple[str, str], RouteParameters]:
    """(method, path template) -> the parameters each place of the request takes, read from the OpenAPI schema."""
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    out: dict[tuple[str, str], RouteParameters] = {}
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            query = frozenset(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
            content = op.get("requestBody", {}).get("content", {})
            form = frozenset().union(*(schema_properties(c.get("schema", {}), components)
                                       for kind, c in content.items() if kind.startswith("multipart/")
                                       or kind == "application/x-www-form-urlencoded"))
            json = schema_properties(content.get("application/json", {}).get("schema", {}), components)
            out[(method.upper(), path)] = RouteParameters(query, form, json)
    return out


async def reject_unknown_query(request: Request) -> None:
    """A global dependency: 422 for any URL parameter the matched operation does not take."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", None)
    if template is None or not request.query_params:
        return
    taken = parameters_by_operation(request.app).get((request.method, template))
    if taken is None:  # not in the schema (the page, static files): nothing to check against
        return
    for name in request.query_params:
        if name in taken.query:
            continue
        where = f"{request.method} {template}"
        if name in taken.form:
            hint = f"send it as a form field (-F {name}=...), not in the URL"
        elif name in taken.json:
            hint = "send it in the JSON body, not in the URL"
        elif taken.query:
            hint = f"the URL parameters of {where} are {', '.join(sorted(taken.query))}"
        else:
            hint = f"{where} takes no URL parameters"
        raise ApiError("invalid_parameter", f"{where} does not take {name!r} in the URL; {hint}")
