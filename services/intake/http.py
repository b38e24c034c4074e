"""POST /v1/contacts: the police contact contract over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from services.intake.contract import parse_contact
from services.intake.handlers import IntakeDeps, Outcome, receive_contact
from shared.redaction import validation_errors


class ContactAccepted(BaseModel):
    case_reference: str
    outcome: Outcome


class Problem(BaseModel):
    title: str
    errors: list[dict[str, str]] = []


def build_http_app(deps: IntakeDeps, max_body_bytes: int) -> FastAPI:
    app = FastAPI(
        title="Safeguarding intake",
        version="1",
        description="Receives police contacts (contract v1) and opens referrals.",
    )

    @app.post(
        "/v1/contacts",
        status_code=202,
        response_model=ContactAccepted,
        responses={
            200: {"model": ContactAccepted, "description": "Replay of a contact already held"},
            413: {"model": Problem},
            415: {"model": Problem},
            422: {"model": Problem, "description": "Each bad field's path; never its value"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PoliceContactV1"}}
                },
            }
        },
    )
    async def post_contact(request: Request) -> Any:
        """Accept a police contact. 202 for a new or changed contact, 200 for an exact replay."""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _problem(415, "Content-Type must be application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return _problem(413, f"body larger than {max_body_bytes} bytes")
        body = await _read_limited(request, max_body_bytes)
        if body is None:
            return _problem(413, f"body larger than {max_body_bytes} bytes")
        try:
            contact = parse_contact(body, deps.clock.now())
        except ValidationError as error:
            return _problem(422, "the contact does not match contract v1", validation_errors(error))
        correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            received = await receive_contact(contact, deps, correlation_id)
        status = 200 if received.outcome is Outcome.REPLAYED else 202
        return JSONResponse(
            ContactAccepted(
                case_reference=received.case_reference, outcome=received.outcome
            ).model_dump(),
            status_code=status,
        )

    _publish_contract_schema(app)
    return app


async def _read_limited(request: Request, limit: int) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, title: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse(Problem(title=title, errors=errors or []).model_dump(), status_code=status)


def _publish_contract_schema(app: FastAPI) -> None:
    """The body is read raw (for size and type checks before parsing), so FastAPI cannot see its
    model: add the contract's JSON schema to the OpenAPI document by hand."""
    from services.intake.contract import PoliceContactV1

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        definitions = PoliceContactV1.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["PoliceContactV1"] = definitions
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
