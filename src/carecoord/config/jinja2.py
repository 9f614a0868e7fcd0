"""The Jinja2 environment: app templates first, then the NHS.UK frontend macros."""

from __future__ import annotations

import json

from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from jinja2 import ChoiceLoader, Environment, PackageLoader
from markupsafe import Markup

from carecoord.core import formatting


def _url(name: str, *args, **kwargs) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def _tojson_script(value) -> Markup:
    """JSON safe to embed inside <script type="application/json">."""
    text = json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def environment(**options) -> Environment:
    env = Environment(**options, extensions=["jinja2.ext.do"])
    env.loader = ChoiceLoader([
        env.loader,
        PackageLoader("nhsuk_frontend_jinja", package_path="templates"),
    ])
    env.globals.update({
        "static": static,
        "url": _url,
        "get_messages": get_messages,
        "tojson_script": _tojson_script,
    })
    env.filters.update({
        "date_uk": formatting.date_uk,
        "datetime_uk": formatting.datetime_uk,
        "number": formatting.number,
        "pct": formatting.pct,
        "nhs_number": formatting.nhs_number,
    })
    return env
