"""The module navigation: each app registers its entries (label, url name, permission)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str
    order: int = 100
    description: str = ""


_items: list[NavItem] = []


def register(item: NavItem) -> None:
    if all(i.url_name != item.url_name for i in _items):
        _items.append(item)


def items_for(request) -> list[dict]:
    out = []
    for item in sorted(_items, key=lambda i: i.order):
        if request.user.has_perm(item.permission, getattr(request, "organisation", None)):
            try:
                href = reverse(item.url_name)
            except NoReverseMatch:
                continue
            out.append({"text": item.label, "href": href, "description": item.description,
                        "current": request.path.startswith(href) and href != "/"})
    return out
