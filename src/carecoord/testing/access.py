"""The access matrix: every page and API route, every role, own vs other organisation.

Each app registers its routes with `register(Route(...))` in `<app>/tests/access.py` (collected by
tests/test_access_matrix.py). For each route the test builds two organisations with patients,
logs in a user holding each role at the first, and asserts:

- a role in `allowed` gets the page (2xx/3xx), any other role gets 403 (or 404 for patient objects);
- a page about the other organisation's object is 403/404 for every role;
- no response contains the other organisation's patient identifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Route:
    name: str
    # Given the scenario (own org, other org, their objects), return the URL to request, or for
    # object routes a URL about the *other* organisation's object via `other_url`.
    url: Callable[[dict], str]
    allowed: frozenset[str]
    method: str = "get"
    data: Callable[[dict], dict] | None = None
    other_url: Callable[[dict], str] | None = None
    api: bool = False
    patient_level: bool = True
    setup: Callable[[dict], None] | None = None
    tags: frozenset[str] = field(default_factory=frozenset)


_routes: dict[str, Route] = {}


def register(route: Route) -> None:
    _routes[route.name] = route


def routes() -> list[Route]:
    return sorted(_routes.values(), key=lambda r: r.name)
