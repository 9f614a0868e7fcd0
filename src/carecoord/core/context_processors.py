from django.conf import settings

from carecoord.core import navigation
from carecoord.core.models import Role


def shell(request):
    """What the site shell needs: navigation, organisations to switch between, roles, demo flag."""
    user = getattr(request, "user", None)
    ctx = {"demo_mode": settings.DEMO_MODE, "service_name": "carecoord",
           # The NHS.UK template's inline script needs the CSP nonce; reading it here also puts it in the
           # Content-Security-Policy header (django-csp adds a nonce only once it has been used).
           "cspNonce": str(request.csp_nonce) if hasattr(request, "csp_nonce") else ""}
    if user is not None and user.is_authenticated:
        ctx.update({
            "nav_items": navigation.items_for(request),
            "current_organisation": getattr(request, "organisation", None),
            "user_organisations": list(user.organisations()),
            "current_roles": sorted(Role(r).label for r in getattr(request, "roles", set())),
        })
    return ctx
