import json

import pytest
from django.test import override_settings

from carecoord.core.models import OutboxMessage
from carecoord.core.notify import GovUkNotifyClient, Message, OutboxNotifier, get_notifier


@pytest.mark.django_db
def test_outbox_backend_records_and_writes_a_json_line(tmp_path):
    with override_settings(DATA_DIR=tmp_path):
        receipt = get_notifier().send(Message("sms", "07700900123", "pidv-invite", {"link": "https://x/p/abc"},
                                              reference="pidv:1"))
    row = OutboxMessage.objects.get(pk=int(receipt.id))
    assert (row.channel, row.template, row.reference) == ("sms", "pidv-invite", "pidv:1")
    line = json.loads((tmp_path / "outbox.jsonl").read_text().splitlines()[-1])
    assert line["personalisation"] == {"link": "https://x/p/abc"}


def test_notify_key_selects_govuk_client():
    key = "carecoord-" + "11111111-2222-3333-4444-555555555555" + "-" + "66666666-7777-8888-9999-000000000000"
    with override_settings(NOTIFY_API_KEY=key):
        client = get_notifier()
    assert isinstance(client, GovUkNotifyClient)
    assert client.service_id == "11111111-2222-3333-4444-555555555555"
    assert client.secret == "66666666-7777-8888-9999-000000000000"  # noqa: S105 (a test value)
    assert client._token().count(".") == 2


def test_default_is_outbox():
    assert isinstance(get_notifier(), OutboxNotifier)
