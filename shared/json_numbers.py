"""Whole numbers in request bodies, read the way their published JSON Schema says.

JSON Schema's `integer` is any number with no fraction, so 12.0 is valid there and the contract
test (Schemathesis) sends it; strict pydantic refuses it, lax pydantic also takes "12" and true.
`json_integer` takes exactly the schema's set: an int, or a float with no fraction as that int.
Put it after the bounds, `Annotated[int, Field(ge=1), BeforeValidator(json_integer)]`: before
them, pydantic cannot place the bounds on the integer and publishes them as unknown keywords."""

from __future__ import annotations


def json_integer(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a whole number is required")
    return value
