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


def _token_with_organisation(prefix: str) -> ApiToken | None:
    """The token (prefix is unique) with its organisation, in one prepared statement: feeds post
    every few seconds, and building the equivalent ORM query cost more than running it. Both
    models' fields are plain columns (no converters), so `from_db` builds the same instances the
    ORM would."""
    from django.db import connection

    from carecoord.core.db import server_cursor
    from carecoord.core.models import Organisation

    token_fields = [f.attname for f in ApiToken._meta.concrete_fields]
    org_fields = [f.attname for f in Organisation._meta.concrete_fields]
    with server_cursor() as cur:
        cur.execute(f"SELECT {', '.join(f't.{c}' for c in token_fields)}, {', '.join(f'o.{c}' for c in org_fields)} "
                    "FROM core_apitoken t LEFT JOIN core_organisation o ON o.id = t.organisation_id "
                    "WHERE t.prefix = %s", [prefix])
        values = cur.fetchone()
    if values is None:
        return None
    row = ApiToken.from_db(connection.alias, token_fields, values[:len(token_fields)])
    row.organisation = (Organisation.from_db(connection.alias, org_fields, values[len(token_fields):])
                        if row.organisation_id is not None else None)
    return row


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        if not token.startswith("cc_") or token.count("_") < 2:
            return None
        prefix = token.split("_")[1]
        row = _token_with_organisation(prefix)
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

    def _get_key(self, request):
        # Only a logged-in session has anything for CSRF to protect. Without one the request is simply
        # unauthenticated: 401 (so a nightly job sees its token has expired), not "CSRF check Failed".
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            request.principal = user
            return user
        return None
