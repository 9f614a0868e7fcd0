"""Request id, login-required and current-organisation middleware."""

from __future__ import annotations

import contextvars
import logging
import uuid

from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Paths anyone may reach without logging in.
PUBLIC_PREFIXES = ("/auth/", "/static/", "/api/", "/health", "/favicon.ico", "/p/")


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


class ClientErrorLogFilter(logging.Filter):
    """Django logs a refused request (403, 404...) with the exception's traceback; that is the
    client's error, not the server's, so keep the one-line warning and drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if 8 <= len(incoming) <= 36 and incoming.replace("-", "").isalnum() else str(uuid.uuid4())
        request.request_id = rid
        token = _request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-Id"] = rid
        return response


class RejectNulBytesMiddleware:
    """PostgreSQL text cannot hold NUL characters, and no legitimate form field or query parameter
    contains one: answer 400 naming the field instead of failing deep in the database layer.
    (Uploaded files are not checked here; the importers reject binary files themselves.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = self._find(request)
        if bad is not None:
            from django.http import JsonResponse

            detail = f"{bad} contains a NUL character, which is not allowed"
            if request.path.startswith("/api/"):
                return JsonResponse({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail},
                                    status=400, content_type="application/problem+json")
            from django.http import HttpResponseBadRequest

            return HttpResponseBadRequest(detail)
        return self.get_response(request)

    @staticmethod
    def _find(request) -> str | None:
        if "\x00" in request.path:
            return "the address"
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return f"query parameter {key!r}"
        ctype = request.content_type or ""
        if request.method in ("POST", "PUT", "PATCH"):
            if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                try:
                    items = list(request.POST.lists())
                except Exception:  # an unparsable body is left to the view's own error handling
                    return None
                for key, values in items:
                    if "\x00" in key or any("\x00" in v for v in values):
                        return f"form field {key!r}"
                for f in request.FILES.values():
                    if "\x00" in (f.name or ""):
                        return "the uploaded file's name"
            elif ctype.endswith("json") and (b"\\u0000" in request.body or b"\x00" in request.body):
                return "the JSON body"
        return None


class LoginRequiredMiddleware:
    """Every page needs a login except the public prefixes (login, static, API with its own auth,
    and the patient's validation link)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated and not request.path.startswith(PUBLIC_PREFIXES):
            login = resolve_url(settings.LOGIN_URL)
            nxt = request.get_full_path()
            if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
                return HttpResponseRedirect(f"{login}?next={nxt}")
            return HttpResponseRedirect(login)
        return self.get_response(request)


class CurrentOrganisationMiddleware:
    """Sets `request.organisation`: the organisation the user is acting for, kept in the session
    and always one the user holds a role at."""

    SESSION_KEY = "current_organisation_id"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organisation = None
        request.roles = set()
        user = request.user
        if user.is_authenticated:
            assignments = {a.organisation_id: a for a in user.role_assignments.select_related("organisation")}
            chosen = request.session.get(self.SESSION_KEY)
            if chosen not in assignments and assignments:
                chosen = sorted(assignments, key=lambda i: assignments[i].organisation.name)[0]
                request.session[self.SESSION_KEY] = chosen
            if chosen in assignments:
                request.organisation = assignments[chosen].organisation
                request.roles = set(assignments[chosen].roles)
            user._roles_cache = {k: set(a.roles) for k, a in assignments.items()}
        return self.get_response(request)
