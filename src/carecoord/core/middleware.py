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
