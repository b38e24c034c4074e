"""The services' HTTP APIs, called with the signed-in person's access token. The console never
reads a service's database or topic: what a person may see is decided by the service, as for any
other client, so a bug here cannot widen anyone's access."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from shared.logging import get_logger

log = get_logger(__name__)

Service = Literal["intake", "notifier", "casework", "meetings"]


class BackendError(Exception):
    """A service answered with an error the page shows as such (status and a safe message)."""

    def __init__(
        self, service: str, status: int, message: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(f"{service}: {status} {message}")
        self.service, self.status, self.message = service, status, message
        # A 422's field errors (location, message, type; never a value), for a form to place
        # each message beside its field.
        self.errors = errors or []


class SignInExpired(BackendError):
    """The service no longer accepts the token (401): the person signs in again."""


@dataclass(frozen=True)
class Binary:
    content: bytes
    media_type: str
    disposition: str | None


class Backends:
    def __init__(self, urls: dict[Service, str], timeout: float) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        # One pooled client for every call: a page makes several, often to the same service.
        self.client = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self.client.aclose()

    async def get(
        self, service: Service, path: str, token: str, params: dict[str, Any] | None = None
    ) -> Any:
        response = await self._call("GET", service, path, token, params=params)
        return response.json() if response.content else None

    async def post(
        self, service: Service, path: str, token: str, body: dict[str, Any] | None = None
    ) -> Any:
        response = await self._call("POST", service, path, token, json=body if body else {})
        return response.json() if response.content else None

    async def put(self, service: Service, path: str, token: str, body: dict[str, Any]) -> Any:
        response = await self._call("PUT", service, path, token, json=body)
        return response.json() if response.content else None

    async def post_content(
        self, service: Service, path: str, token: str, content: bytes, media_type: str,
        params: dict[str, Any] | None = None,
    ) -> Any:  # fmt: skip
        """A POST whose body is a document (an uploaded calendar), not JSON."""
        response = await self._call(
            "POST", service, path, token, content=content, params=params,
            headers={"Content-Type": media_type},
        )  # fmt: skip
        return response.json() if response.content else None

    async def delete(self, service: Service, path: str, token: str) -> None:
        await self._call("DELETE", service, path, token)

    async def download(self, service: Service, path: str, token: str) -> Binary:
        response = await self._call("GET", service, path, token)
        return Binary(
            response.content,
            response.headers.get("content-type", "application/octet-stream"),
            response.headers.get("content-disposition"),
        )

    async def _call(
        self, method: str, service: Service, path: str, token: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        try:
            response = await self.client.request(
                method, f"{self.urls[service]}{path}", headers=headers, **kwargs
            )
        except httpx.HTTPError as error:
            log.warning("backend_unreachable", service=service, error=type(error).__name__)
            raise BackendError(service, 503, f"The {service} service is not answering.") from None
        if response.status_code == 401:
            raise SignInExpired(service, 401, "Your sign-in has ended.")
        if response.status_code >= 400:
            # The service's own message ("no such task", a refused transition) is written for
            # staff; a 5xx says nothing useful and may say too much, so it is replaced.
            message = _detail(response) if response.status_code < 500 else "The service failed."
            log.info("backend_refused", service=service, status=response.status_code)
            errors = _field_errors(response) if response.status_code == 422 else None
            raise BackendError(service, response.status_code, message, errors)
        return response


def _field_errors(response: httpx.Response) -> list[dict[str, str]]:
    """A problem's `errors` (shared/problems.py): location, message and type of each bad field."""
    try:
        document = response.json()
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        {key: str(item.get(key, "")) for key in ("location", "message", "type")}
        for item in errors
        if isinstance(item, dict)
    ]


def _detail(response: httpx.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return "The request was refused."
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list) and errors:
        # A 422 problem (shared/problems.py): the detail may say only that something was wrong,
        # each error's location and message say where and why, and never quote the input.
        parts: list[str] = []
        for item in errors:
            if isinstance(item, dict):
                location = str(item.get("location", ""))
                where = re.sub(r"^(body|query|path)\.?", "", location)
                message = str(item.get("message", ""))
                parts.append(f"{where}: {message}" if where else message)
        return "; ".join(parts)[:300] or "The request was refused."
    detail = document.get("detail") or document.get("title") if isinstance(document, dict) else None
    if isinstance(detail, str):
        return detail[:300]
    if isinstance(detail, list):  # FastAPI's validation errors: field and message, never a value
        parts = [
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        ]
        return "; ".join(parts)[:300] or "The request was refused."
    return "The request was refused."
