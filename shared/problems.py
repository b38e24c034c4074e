"""One error body for every service: RFC 9457 problem details (`application/problem+json`).

Every refusal, whoever makes it (a route's HTTPException, FastAPI's request validation, the
guards in shared/http_guards.py, staff sign-in, an unexpected failure), answers with a `Problem`:
`type` (always `about:blank`: the status says what kind of problem it is), `title` (the status's
phrase), `status`, `detail` (what was wrong, written for staff) and, for invalid requests only,
`errors`: each bad field's location and message. Never a submitted value (DOMAIN.md: no personal
data in an error), nor the name of a field the sender invented (shared/redaction.py).

`document_problems` makes each service's OpenAPI document say so: the Problem schema under every
error status, FastAPI's default 422 `HTTPValidationError` replaced, and the statuses every route
can answer because of the shared middleware (400, 413, 422) added to each operation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.redaction import QUOTING_MESSAGES, error_path

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
INVALID_REQUEST = "the request is not valid"


class FieldError(BaseModel):
    """One reason a request was refused: where, and why. Never the value that was sent."""

    model_config = ConfigDict(frozen=True)

    location: str = Field(
        description="Dotted path: body.person.age, query.status, path.day; (body) for the "
        "whole body. An unknown field's own name is withheld."
    )
    message: str
    type: str = Field(description="The kind of error, e.g. missing, extra_forbidden.")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error answer of every service. Open to
    extension members, as the RFC says; absent members are left out, never null."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(default="about:blank", description="Always about:blank: see status.")
    title: str = Field(description="The HTTP status's phrase, e.g. Not Found.")
    status: int = Field(ge=400, le=599)
    detail: str | SkipJsonSchema[None] = Field(
        default=None, description="What was wrong, for a person; never a submitted value."
    )
    errors: list[FieldError] | SkipJsonSchema[None] = Field(
        default=None, description="Invalid requests (422): each bad field's location and message."
    )


def problem_body(
    status: int, detail: str | None = None, errors: Sequence[FieldError] | None = None
) -> dict[str, Any]:
    problem = Problem(
        title=_phrase(status),
        status=status,
        detail=detail,
        errors=list(errors) if errors is not None else None,
    )
    return problem.model_dump(exclude_none=True)


def problem_response(
    status: int,
    detail: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, detail, errors),
        status_code=status,
        headers=dict(headers) if headers else None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def field_errors(items: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """pydantic's or FastAPI's error items (input values dropped) as FieldErrors."""
    return [
        FieldError(
            location=str(item.get("path") or error_path(item)),
            message=QUOTING_MESSAGES.get(
                str(item.get("type", "")), str(item.get("msg") or item.get("message") or "")
            ),
            type=str(item.get("type", "")),
        )
        for item in items
    ]


def problems(described: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for a route: each status with its description and the Problem body."""
    return {
        status: {"description": text, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}}
        for status, text in described.items()
    }


def install_problem_handlers(app: FastAPI) -> None:
    """Every HTTPException, invalid request and unexpected failure answers with a Problem."""

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers or {})
        if error.status_code in {204, 304}:
            return Response(status_code=error.status_code, headers=headers)
        if error.status_code == 405:
            # Starlette names only the first route matching the path; one path often has a GET
            # route and a POST route, and the Allow header must list both (RFC 9110 15.5.6).
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        said = error.detail if isinstance(error.detail, str) else None
        detail = None if said == _phrase(error.status_code) else said
        return problem_response(error.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> Response:
        # FastAPI's default 422 quotes the submitted input; this gives locations and messages.
        return problem_response(422, INVALID_REQUEST, field_errors(error.errors()))

    @app.exception_handler(Exception)
    async def failed(_: Request, error: Exception) -> Response:
        # Starlette's ServerErrorMiddleware still re-raises it (the server logs it); the caller
        # gets the same shape as any other error, and nothing of the exception's text.
        return problem_response(500, "the service failed")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\x00"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# Statuses any operation can answer, from the middleware every service installs
# (shared/http_guards.py) and FastAPI's body parsing.
GUARD_PROBLEMS = {
    413: "The request body is larger than the service takes (1 MiB; intake's own limit is lower).",
    422: "The request is not valid: each bad field's location and message, never its value. "
    "Also for a NUL character anywhere in the path, query or a JSON body.",
}
BODY_PROBLEMS = {400: "The body could not be read as text (for example, bytes that are not UTF-8)."}


def document_problems(app: FastAPI) -> None:
    """Make the app's OpenAPI document describe the errors as they are sent (see module doc)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = original()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components["Problem"] = schema
        # Only a body FastAPI parses can fail as unreadable (400); intake reads its own.
        parsed = {
            (route.path_format, method.lower())
            for route in app.routes
            if isinstance(route, APIRoute) and route.body_field is not None
            for method in route.methods or ()
        }
        for path, path_item in document.get("paths", {}).items():
            for method, operation in path_item.items():
                if isinstance(operation, dict) and "responses" in operation:
                    _document_operation(operation, (path, method) in parsed)
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in _text(document):
                components.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _document_operation(operation: dict[str, Any], parses_body: bool) -> None:
    responses: dict[str, Any] = operation["responses"]
    common = GUARD_PROBLEMS | (BODY_PROBLEMS if parses_body else {})
    for code, text in common.items():
        entry = responses.get(str(code))
        if entry is None or _is_fastapi_validation(entry):
            responses[str(code)] = problems({code: text})[code]
    for status, answer in responses.items():
        # An error declared with a description only (staff sign-in's 401 and 403) gets the body.
        if status.isdigit() and int(status) >= 400 and "content" not in answer:
            answer["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    operation["responses"] = dict(sorted(responses.items()))


def _is_fastapi_validation(entry: Mapping[str, Any]) -> bool:
    return "HTTPValidationError" in _text(entry)


def _text(value: Any) -> str:
    return json.dumps(value)
