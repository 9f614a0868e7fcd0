"""API authentication: bearer tokens (hashed at rest) or the browser session.

Both set `request.organisation` and `request.roles` so API routes scope and check
permissions exactly as pages do."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from carecoord.core.models import ApiToken

LAST_USED_EVERY = timedelta(minutes=1)  # "last used" is recorded to the minute, not on every call


class ApiPrincipal:
    """The identity behind an API token (a provider's system or a system client)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken):
        self.token = token
        self.pk = None
        self.username = f"api-token:{token.prefix}"

    def roles_at(self, organisation):
        if organisation is not None and organisation.pk == self.token.organisation_id:
            return set(self.token.roles)
        return set()

    def has_perm(self, perm, obj=None):
        import rules

        return rules.has_perm(perm, self, obj)


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        if not token.startswith("cc_") or token.count("_") < 2:
            return None
        prefix = token.split("_")[1]
        row = next(iter(ApiToken.objects.select_related("organisation").filter(prefix=prefix)), None)  # unique
        now = timezone.now()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if not hmac.compare_digest(row.key_hash, ApiToken.hash_key(token)):
            return None
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:  # a feed posts every few seconds
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        principal = ApiPrincipal(row)
        request.api_token = row
        request.organisation = row.organisation
        request.roles = set(row.roles)
        request.principal = principal
        return principal


class SessionAuth(APIKeyCookie):
    """The logged-in browser session (CSRF-checked for unsafe methods by ninja)."""

    param_name = "sessionid"

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            request.principal = user
            return user
        return None
