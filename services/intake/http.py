"""Intake's HTTP API: police contacts in (signed), personal data out (audited), and a case's
summary without any identifier for the staff web console."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError

from services.intake.auth import AuthenticationFailed, verify
from services.intake.case_summaries import CaseSummary, case_summary
from services.intake.contract import PoliceContactV1, parse_contact
from services.intake.handlers import IntakeDeps, Outcome, receive_contact, remember_request_id
from services.intake.operations import (
    OperationAnnouncementV1,
    announce_operation,
    parse_announcement,
)
from services.intake.vault_access import NotInVault, read_personal_data
from shared.events import trusted_correlation_id
from shared.logging import get_logger
from shared.problems import field_errors, problem_response, problems
from shared.redaction import validation_errors
from shared.staff_auth import Staff, StaffAuth, StaffRole, StaffRoute

log = get_logger(__name__)
UNAUTHENTICATED = "the request is not signed by a known police key (see the X-Signature scheme)"

# Declared for OpenAPI; the values are read from the request by `verify`.
SIGNATURE_HEADERS = [
    Depends(APIKeyHeader(name=name, auto_error=False, scheme_name=name, description=text))
    for name, text in (
        ("X-Key-Id", "Which shared HMAC key signed the request."),
        ("X-Request-Id", "Unique per request (8-128 of A-Z a-z 0-9 _ -); a repeat is refused."),
        ("X-Timestamp", "Unix seconds; within the tolerance window (default 5 minutes)."),
        (
            "X-Signature",
            'hex HMAC-SHA256 of "v1\\n{request id}\\n{timestamp}\\n{hex SHA-256 of body}".',
        ),
    )
]


class ContactAccepted(BaseModel):
    case_reference: str
    outcome: Outcome


class OperationAccepted(BaseModel):
    operation_group: str
    version: int
    outcome: Outcome


def build_http_app(
    deps: IntakeDeps,
    *,
    max_body_bytes: int,
    police_keys: dict[str, bytes],
    signatures_required: bool,
    signature_tolerance: timedelta,
    staff_auth: StaffAuth,
) -> FastAPI:
    app = FastAPI(
        title="Safeguarding intake",
        version="1",
        description=(
            "Receives police contacts (contract v1) and opens referrals. Requests are signed with a "
            "shared HMAC key (see the X-* headers); personal data is readable only by named vault "
            "readers, and every read is audited."
        ),
    )

    app.router.route_class = StaffRoute  # sign-in is checked before the body is read
    vault_reader = staff_auth.require(StaffRole.VAULT_READER)
    case_staff = staff_auth.require(
        StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE, StaffRole.VAULT_READER
    )

    @app.post(
        "/v1/contacts",
        status_code=202,
        response_model=ContactAccepted,
        dependencies=SIGNATURE_HEADERS,
        responses={
            200: {"model": ContactAccepted, "description": "Replay of a contact already held"},
            **problems(
                {
                    401: "Missing, stale or wrong signature (which, only the log says)",
                    403: "Replayed request id",
                    413: f"Body larger than INTAKE_MAX_BODY_BYTES ({max_body_bytes} bytes)",
                    415: "Content-Type is not application/json",
                    422: "The contact does not match contract v1: each bad field's location "
                    "and message, never its value",
                }
            ),
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
        response = await accept_contact(request)
        if 400 <= response.status_code < 500:  # turned away: counted as refused (the metrics)
            deps.metrics.refused()
        return response

    async def signed_body(request: Request, what: str = "contact") -> bytes | JSONResponse:
        """The body of a police request, or the problem that refuses it: media type, size, then
        the signature and the replay store (every police request, contact or announcement)."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _problem(415, "Content-Type must be application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return _problem(413, f"body larger than {max_body_bytes} bytes")
        body = await _read_limited(request, max_body_bytes)
        if body is None:
            return _problem(413, f"body larger than {max_body_bytes} bytes")
        now = deps.clock.now()
        if signatures_required or request.headers.get("x-signature"):
            try:
                signed = verify(request.headers, body, police_keys, now, signature_tolerance)
            except AuthenticationFailed as failure:
                # The reason goes to our log only: telling the caller which key ids exist, or
                # which check failed, helps whoever is guessing.
                log.warning(f"{what}_refused_unauthenticated", reason=str(failure))
                return _problem(401, UNAUTHENTICATED)
            if not await remember_request_id(deps.engine, signed.request_id, signed.key_id, now):
                log.warning(f"{what}_refused_replayed_request", key_id=signed.key_id)
                return _problem(403, "request id already used: sign each request with a new id")
        return body

    async def accept_contact(request: Request) -> JSONResponse:
        body = await signed_body(request)
        if isinstance(body, JSONResponse):
            return body
        now = deps.clock.now()
        try:
            contact = parse_contact(body, now)
        except ValidationError as error:
            return _problem(422, "the contact does not match contract v1", validation_errors(error))
        correlation_id = trusted_correlation_id(request.headers.get("x-correlation-id")) or str(
            uuid.uuid4()
        )
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            received = await receive_contact(contact, deps, correlation_id)
        status = 200 if received.outcome is Outcome.REPLAYED else 202
        return JSONResponse(
            ContactAccepted(
                case_reference=received.case_reference, outcome=received.outcome
            ).model_dump(),
            status_code=status,
        )

    @app.post(
        "/v1/operations",
        status_code=202,
        response_model=OperationAccepted,
        dependencies=SIGNATURE_HEADERS,
        responses={
            200: {"model": OperationAccepted, "description": "Replay of the announcement held"},
            **problems(
                {
                    401: "Missing, stale or wrong signature (which, only the log says)",
                    403: "Replayed request id",
                    413: f"Body larger than INTAKE_MAX_BODY_BYTES ({max_body_bytes} bytes)",
                    415: "Content-Type is not application/json",
                    422: "The announcement does not match its contract: each bad field's "
                    "location and message, never its value",
                }
            ),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/OperationAnnouncementV1"}
                    }
                },
            }
        },
    )
    async def post_operation(request: Request) -> Any:
        """Announce a police operation ahead (signed like a contact). 202 when new or changed
        (the next version is published), 200 for the same announcement again."""
        body = await signed_body(request, "operation")
        if isinstance(body, JSONResponse):
            return body
        try:
            announcement = parse_announcement(body, deps.clock.now())
        except ValidationError as error:
            return _problem(
                422, "the announcement does not match its contract", validation_errors(error)
            )
        correlation_id = trusted_correlation_id(request.headers.get("x-correlation-id")) or str(
            uuid.uuid4()
        )
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            announced = await announce_operation(announcement, deps, correlation_id)
        return JSONResponse(
            OperationAccepted(
                operation_group=announced.operation_group,
                version=announced.version,
                outcome=announced.outcome,
            ).model_dump(),
            status_code=200 if announced.outcome is Outcome.REPLAYED else 202,
        )

    @app.get(
        "/v1/cases/{case_reference}/personal-data",
        responses=problems({404: "No personal data held for that case"}),
    )
    async def get_personal_data(
        case_reference: str,
        purpose: Annotated[
            str, Query(min_length=5, max_length=500, description="Why it is read (audited).")
        ],
        reader: Staff = Depends(vault_reader),  # a default: `Annotated` here would be a string
    ) -> Any:
        """A case's personal data, for a signed-in vault reader; the read is audited with who
        read it and why."""
        try:
            document = await read_personal_data(
                deps.engine, deps.vault, case_reference, reader.person_id, purpose, deps.clock.now()
            )
        except NotInVault:
            return _problem(404, "no personal data held for that case")
        return JSONResponse(document, headers={"Cache-Control": "no-store"})

    @app.get(
        "/v1/cases/{case_reference}",
        response_model=CaseSummary,
        responses=problems({404: "No such case"}),
    )
    async def get_case(case_reference: str, staff: Staff = Depends(case_staff)) -> Any:
        """A case's summary: dates, pathway, urgency, district and status. No personal data, so
        the read is not a vault access and is not audited as one."""
        summary = await case_summary(deps.engine, case_reference)
        if summary is None:
            return _problem(404, "no such case")
        return summary

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


def _problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return problem_response(status, detail, field_errors(errors) if errors is not None else None)


def _publish_contract_schema(app: FastAPI) -> None:
    """The body is read raw (for size, type and signature checks before parsing), so FastAPI cannot
    see its model: add the contract's JSON schema to the OpenAPI document by hand."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (PoliceContactV1, OperationAnnouncementV1):
            definitions = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definitions.pop("$defs", {}))
            components[model.__name__] = definitions
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
