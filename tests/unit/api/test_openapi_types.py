"""The OpenAPI document types every answer: no untyped objects, timestamps as date-time, statuses as enums.

A generated client (the web app's) is only as good as the document: an untyped object becomes `any`, a
timestamp without `format: date-time` a bare string, a status without an enum a string nobody can switch on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from shared.api.openapi import document
from shared.core.clock import iso, now
from shared.core.timestamps import Timestamp

# Fields that hold a partner's own body or code, as sent: typed as JSON / text on purpose.
RAW_PARTNER_FIELDS = frozenset({"InboxEntry.payload", "TraceView.raw_status"})

TIME_SUFFIXES = ("_at", "_until")
TIME_NAMES = frozenset({"at", "timestamp"})


def _is_time(name: str) -> bool:
    return name in TIME_NAMES or name.endswith(TIME_SUFFIXES)


def _is_status(name: str) -> bool:
    return name == "status" or name.endswith("_status")


def _enumerated(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """An enum or a constant; for a map keyed by status (orders_by_status), its keys are."""
    if "enum" in schema or "const" in schema:
        return True
    keys = schema.get("propertyNames")
    return keys is not None and all(_enumerated(v, schemas) for v in _variants(keys, schemas))


def _variants(schema: dict[str, Any], schemas: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schema itself, or each branch of an anyOf/oneOf, with references resolved."""
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        for branch in branches:
            yield from _variants(branch, schemas)
    else:
        yield schema


def untyped_parts(doc: dict[str, Any], schema: dict[str, Any], where: str,
                  seen: frozenset[str] = frozenset()) -> Iterator[str]:
    """Every place in `schema` a client could not type, as '<where>: <why>'."""
    schemas = doc.get("components", {}).get("schemas", {})
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from untyped_parts(doc, schemas[name], name, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from untyped_parts(doc, branch, where, seen)
    if not schema:
        yield f"{where}: a schema that allows anything"
        return
    if schema.get("type") == "array":
        items = schema.get("items")
        if not items:
            yield f"{where}: list items untyped"
        else:
            yield from untyped_parts(doc, items, f"{where}[]", seen)
    if schema.get("type") == "object" or "properties" in schema:
        extra = schema.get("additionalProperties")
        if extra is True:
            yield f"{where}: additionalProperties: true"
        elif not schema.get("properties") and not isinstance(extra, dict) and extra is not False:
            yield f"{where}: an object without properties"
        if isinstance(extra, dict):
            yield from untyped_parts(doc, extra, f"{where}{{}}", seen)
        for name, field in schema.get("properties", {}).items():
            path = f"{where}.{name}"
            if path in RAW_PARTNER_FIELDS:
                continue
            variants = [v for v in _variants(field, schemas) if v.get("type") != "null"]
            if _is_time(name) and not all(v.get("format") == "date-time" for v in variants):
                yield f"{path}: a timestamp without format: date-time"
            if _is_status(name) and not all(_enumerated(v, schemas) for v in variants):
                yield f"{path}: a status without an enum"
            yield from untyped_parts(doc, field, path, seen)


def untyped_answers(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Operation ('GET /path') -> what is untyped in its success answers."""
    found: dict[str, list[str]] = {}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            operation_id = f"{method.upper()} {path}"
            successes = {code: response for code, response in operation.get("responses", {}).items()
                         if code.startswith("2")}
            if not any(response.get("content") for response in successes.values()):
                found.setdefault(operation_id, []).append("no success answer with a schema")
            for code, response in successes.items():
                for media in (response.get("content") or {}).values():
                    issues = list(untyped_parts(doc, media.get("schema", {}), f"{code} answer"))
                    if issues:
                        found.setdefault(operation_id, []).extend(issues)
    return found


def _doc(answer: dict[str, Any], **schemas: Any) -> dict[str, Any]:
    return {"paths": {"/things": {"get": {"responses": {"200": {"content": {"application/json": {
        "schema": answer}}}}}}}, "components": {"schemas": schemas}}


def test_every_answer_is_fully_typed() -> None:
    assert untyped_answers(document()) == {}


def test_an_answer_that_is_a_bare_object_is_caught() -> None:
    doc = _doc({"type": "object", "additionalProperties": True, "title": "Return"})
    assert untyped_answers(doc) == {"GET /things": ["200 answer: additionalProperties: true"]}
    assert untyped_answers(_doc({"type": "object"})) == {"GET /things": ["200 answer: an object without properties"]}


def test_a_route_that_documents_no_answer_is_caught() -> None:
    doc = {"paths": {"/things": {"post": {"responses": {"200": {"description": "OK"}}}}}}
    assert untyped_answers(doc) == {"POST /things": ["no success answer with a schema"]}


def test_a_nested_untyped_object_or_list_is_caught() -> None:
    doc = _doc({"$ref": "#/components/schemas/Page"},
               Page={"type": "object", "properties": {
                   "items": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                   "tags": {"type": "array"}}})
    assert untyped_answers(doc) == {"GET /things": ["Page.items[]: additionalProperties: true",
                                                    "Page.tags: list items untyped"]}


def test_a_timestamp_without_date_time_is_caught() -> None:
    doc = _doc({"type": "object", "properties": {
        "created_at": {"type": "string"},
        "paid_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}}})
    assert untyped_answers(doc) == {"GET /things": ["200 answer.created_at: a timestamp without format: date-time"]}


def test_a_status_without_an_enum_is_caught() -> None:
    doc = _doc({"type": "object", "properties": {
        "status": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "to_status": {"$ref": "#/components/schemas/OrderStatus"}}},
        OrderStatus={"type": "string", "enum": ["PAID"]})
    assert untyped_answers(doc) == {"GET /things": ["200 answer.status: a status without an enum"]}
    by_status = _doc({"type": "object", "properties": {"orders_by_status": {
        "type": "object", "additionalProperties": {"type": "integer"}, "propertyNames": {"type": "string"}}}})
    assert untyped_answers(by_status) == {"GET /things": ["200 answer.orders_by_status: a status without an enum"]}


class _Stamped(BaseModel):
    at: Timestamp


# Fixed values only: a parameter computed at collection (now()) differs between xdist workers, which then refuse
# to run; the clock's own output is the next test.
@pytest.mark.parametrize("stored", ["2026-12-07T19:03:25.123Z", "2026-01-01T00:00:00.000Z", "2027-02-28T23:59:59.999Z"])
def test_a_timestamp_answers_exactly_the_string_it_was_stored_as(stored: str) -> None:
    """Typed as date-time in the document, the JSON stays byte-for-byte what clock.iso wrote."""
    stamped = _Stamped.model_validate({"at": stored})
    assert stamped.model_dump_json() == f'{{"at":"{stored}"}}'
    assert stamped.model_dump(mode="json") == {"at": stored}


def test_a_timestamp_the_clock_writes_answers_exactly_as_written() -> None:
    stored = iso(now())
    assert _Stamped.model_validate({"at": stored}).model_dump(mode="json") == {"at": stored}
