"""The API root at /api/v1/: django-ninja, OpenAPI 3, token or session authentication.

Each app adds its router here. Errors follow RFC 7807 (problem+json)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from carecoord.coordination.api import router as coordination_router
from carecoord.core.api import router as core_router
from carecoord.core.api_auth import SessionAuth, TokenAuth
from carecoord.escalation.api import router as escalation_router
from carecoord.integration.api import router as integration_router
from carecoord.theatres.api import router as theatres_router
from carecoord.validation.api import router as validation_router
from carecoord.waitinglist.api import router as waitinglist_router

api = NinjaAPI(
    title="carecoord API",
    version="1.0.0",
    description="Care coordination: organisations, waiting lists, validation, theatres, coordination centre. "
    "Authenticate with `Authorization: Bearer <token>` (tokens are issued per organisation or system client).",
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
)


def _problem(request, status: int, title: str, detail, errors=None):
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = "application/problem+json"
    return response


@api.exception_handler(ValidationError)
def _validation(request, exc):
    errors = [{"loc": [str(p) for p in e.get("loc", [])], "msg": e.get("msg", "")} for e in exc.errors]
    return _problem(request, 422, "Invalid request", "Some fields are missing or invalid", errors)


@api.exception_handler(AuthenticationError)
def _unauth(request, exc):
    response = _problem(request, 401, "Unauthorised", "A valid bearer token or session is required")
    response["WWW-Authenticate"] = 'Bearer realm="carecoord"'  # RFC 9110 §15.5.2: a 401 names its scheme
    return response


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _problem(request, 403, "Forbidden", "Your roles do not allow this")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _problem(request, 404, "Not found", str(exc) or "Not found")


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return _problem(request, exc.status_code, "Error", str(exc))


api.add_router("/", core_router)
api.add_router("/waiting-list/", waitinglist_router)
api.add_router("/imports/", integration_router)
api.add_router("/validation/", validation_router)
api.add_router("/theatres/", theatres_router)
api.add_router("/coordination/escalation/", escalation_router)
api.add_router("/coordination/", coordination_router)
