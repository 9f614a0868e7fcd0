"""OpenID Connect login through Authlib (NHS CIS2 compatible).

Enabled when OIDC_SERVER_METADATA_URL and OIDC_CLIENT_ID are set. CIS2 supports only the
authorisation code flow; clients authenticate to the token endpoint with `private_key_jwt`
(OIDC_PRIVATE_KEY_FILE, an RSA private key in PEM; its public half is served as a JWKS at
/auth/oidc/jwks/). Users are matched on their OIDC subject (`User.oidc_sub`), which an
organisation admin records when granting roles; unknown subjects are refused.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from carecoord.core.models import AuditLog, User

PROVIDER = "cis2"


def enabled() -> bool:
    return bool(settings.OIDC_SERVER_METADATA_URL and settings.OIDC_CLIENT_ID)


def _private_key() -> str | None:
    if settings.OIDC_PRIVATE_KEY_FILE:
        return Path(settings.OIDC_PRIVATE_KEY_FILE).read_text()
    return None


@cache
def client():
    from authlib.integrations.django_client import OAuth
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

    oauth = OAuth()
    key = _private_key()
    kwargs = {"scope": settings.OIDC_SCOPES}
    auth_methods = None
    if key:
        kwargs["token_endpoint_auth_method"] = "private_key_jwt"  # noqa: S105 - a method name
        auth_methods = [PrivateKeyJWT(alg="RS512")]
    oauth.register(
        PROVIDER,
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=key or settings.OIDC_CLIENT_SECRET,
        server_metadata_url=settings.OIDC_SERVER_METADATA_URL,
        client_kwargs=kwargs,
        client_auth_methods=auth_methods,
    )
    return oauth.create_client(PROVIDER)


def login(request):
    if not enabled():
        raise Http404("single sign-on is not configured")
    extra = {"acr_values": settings.OIDC_ACR_VALUES} if settings.OIDC_ACR_VALUES else {}
    return client().authorize_redirect(request, request.build_absolute_uri(reverse("core:oidc_callback")),
                                       **extra)


def callback(request):
    if not enabled():
        raise Http404("single sign-on is not configured")
    from carecoord.core.services.audit import Auditor

    token = client().authorize_access_token(request)
    userinfo = token.get("userinfo") or client().userinfo(token=token)
    sub = userinfo.get("sub")
    user = User.objects.filter(oidc_sub=sub, is_active=True).first() if sub else None
    if user is None:
        return HttpResponseForbidden("Your smartcard identity is not registered with carecoord. "
                                     "Ask your organisation admin to add you.")
    auth_login(request, user, backend="carecoord.core.auth.LockoutModelBackend")
    Auditor(user, request_id=request.request_id).event(AuditLog.Action.LOGIN, user, summary="oidc")
    return redirect("/")


def jwks(request):
    """The public key that verifies our private_key_jwt client assertions."""
    key = _private_key()
    if not key:
        raise Http404("no signing key configured")
    from authlib.jose import JsonWebKey

    jwk = JsonWebKey.import_key(key, {"kty": "RSA"}).as_dict(is_private=False)
    jwk.update({"use": "sig", "alg": "RS512"})
    return JsonResponse({"keys": [jwk]})
