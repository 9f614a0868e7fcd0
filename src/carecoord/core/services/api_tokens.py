"""Issue and revoke API tokens. The key is shown once; only its SHA-256 is stored."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from carecoord.core.models import ApiToken
from carecoord.core.services.audit import Auditor


@transaction.atomic
def issue(*, name: str, organisation, roles: list[str], created_by, expires_at=None) -> tuple[ApiToken, str]:
    prefix, key = ApiToken.generate()
    token = ApiToken.objects.create(name=name, organisation=organisation, roles=list(roles), prefix=prefix,
                                    key_hash=ApiToken.hash_key(key), created_by=created_by, expires_at=expires_at)
    Auditor(created_by, organisation=organisation).create(token, summary=f"API token {prefix} issued")
    return token, key


@transaction.atomic
def revoke(token: ApiToken, *, by) -> None:
    from carecoord.core.services.audit import snapshot

    before = snapshot(token)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at", "updated_at"])
    Auditor(by, organisation=token.organisation).update(token, before, summary=f"API token {token.prefix} revoked")
