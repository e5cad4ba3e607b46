"""One parameters model per route, taken from the query string or a JSON body and documented once."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, create_model

from app.errors import ApiError, readable


def query_model(model: type[BaseModel], **overrides: Any) -> type[BaseModel]:
    """`model` with every field optional (None: not given), its description and bounds kept, for
    `Annotated[..., Query()]`; `overrides` replace a field's type (e.g. a list for a repeatable parameter)."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = overrides.get(name, info.annotation)
        optional = Annotated[kind | None, *info.metadata] if info.metadata else kind | None
        fields[name] = (optional, Field(None, description=info.description))
    return create_model(f"{model.__name__}Query", **fields)


def merge(model: type[BaseModel], query: BaseModel, body: BaseModel | None) -> BaseModel:
    """The body's fields, then the query's given ones on top, validated as `model` (422 saying what to fix).
    A repeated query parameter (a list where `model` takes one value) is joined with commas."""
    given = {k: ",".join(v) if isinstance(v, list) else v
             for k, v in query.model_dump(mode="json").items() if v not in (None, [])}
    merged = (body.model_dump(exclude_unset=True, mode="json") if body else {}) | given
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ApiError("invalid_parameter", readable(exc.errors())) from exc
