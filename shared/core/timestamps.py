"""The timestamp type of response models (apart from shared.core.types, so the intake fast path that
imports those does not pay for pydantic's serializer module)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, PlainSerializer, WithJsonSchema

from shared.core.clock import iso

# An aware UTC moment: read from the stored ISO string, written back exactly as `clock.iso` writes it
# (milliseconds and a Z, e.g. 2026-12-07T19:03:25.123Z), so the JSON stays byte-for-byte what it was;
# the OpenAPI document says `format: date-time`.
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
