"""Sending messages to patients and staff: one small interface, two backends.

- `OutboxNotifier` (the default): writes each message to the `OutboxMessage` table (shown on the
  Outbox page, so the demo works offline) and appends it as a JSON line to
  `$CARECOORD_DATA_DIR/outbox.jsonl`.
- `GovUkNotifyClient`: GOV.UK Notify's REST API (`/v2/notifications/sms|email`), authenticated with
  the service's API key as an HS256 JWT, used when CARECOORD_NOTIFY_API_KEY is set.

Callers pass template ids and personalisation; nothing here logs the recipient or the content.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    SMS = "sms", "Text message"
    EMAIL = "email", "Email"
    LETTER = "letter", "Letter"
    STAFF = "staff", "Staff alert"


@dataclass(frozen=True)
class Message:
    channel: str
    to: str
    template: str
    personalisation: dict
    reference: str = ""  # our id for the message (e.g. "pidv:123"), never patient details


@dataclass(frozen=True)
class Receipt:
    id: str
    backend: str


class Notifier(Protocol):
    def send(self, message: Message) -> Receipt: ...


class OutboxNotifier:
    name = "outbox"

    def send(self, message: Message) -> Receipt:
        from carecoord.core.models import OutboxMessage

        row = OutboxMessage.objects.create(channel=message.channel, to=message.to, template=message.template,
                                           personalisation=message.personalisation, reference=message.reference)
        path = settings.DATA_DIR / "outbox.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(json.dumps({"id": row.pk, "at": row.created_at.isoformat(), "channel": message.channel,
                                 "to": message.to, "template": message.template,
                                 "personalisation": message.personalisation, "reference": message.reference}) + "\n")
        return Receipt(str(row.pk), self.name)


class GovUkNotifyClient:
    """A minimal GOV.UK Notify client (the API key is `name-serviceid-secret`)."""

    name = "govuk-notify"
    base_url = "https://api.notifications.service.gov.uk"

    def __init__(self, api_key: str, base_url: str | None = None):
        self.service_id = api_key[-73:-37]
        self.secret = api_key[-36:]
        self.base_url = base_url or self.base_url

    def _token(self) -> str:
        from authlib.jose import jwt

        token = jwt.encode({"alg": "HS256", "typ": "JWT"}, {"iss": self.service_id, "iat": int(time.time())},
                           self.secret)
        return token.decode() if isinstance(token, bytes) else token

    def send(self, message: Message) -> Receipt:
        import requests

        if message.channel == Channel.SMS:
            path, body = "/v2/notifications/sms", {"phone_number": message.to}
        elif message.channel == Channel.EMAIL:
            path, body = "/v2/notifications/email", {"email_address": message.to}
        elif message.channel == Channel.LETTER and message.personalisation.get("pdf_path"):
            # A precompiled letter: Notify prints and posts the PDF we rendered.
            import base64
            from pathlib import Path

            content = base64.b64encode(Path(message.personalisation["pdf_path"]).read_bytes()).decode()
            r = requests.post(self.base_url + "/v2/notifications/letter", timeout=30,
                              json={"reference": message.reference or str(uuid.uuid4()), "content": content},
                              headers={"Authorization": f"Bearer {self._token()}"})
            r.raise_for_status()
            return Receipt(r.json().get("id", ""), self.name)
        else:
            raise ValueError(f"GOV.UK Notify backend does not send {message.channel} here")
        body.update({"template_id": message.template, "personalisation": message.personalisation,
                     "reference": message.reference or str(uuid.uuid4())})
        r = requests.post(self.base_url + path, json=body, timeout=10,
                          headers={"Authorization": f"Bearer {self._token()}"})
        r.raise_for_status()
        return Receipt(r.json().get("id", ""), self.name)


def get_notifier() -> Notifier:
    key = getattr(settings, "NOTIFY_API_KEY", "")
    if key:
        return GovUkNotifyClient(key)
    return OutboxNotifier()

