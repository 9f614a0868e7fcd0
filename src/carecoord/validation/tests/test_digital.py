"""Patient-initiated digital validation: cohort safeguards, the link's date-of-birth check and lockout,
single use and expiry, answers routed to clinicians (never removals), reminders then letters."""

import re
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from carecoord.core.models import OutboxMessage, Role
from carecoord.core.services.audit import Auditor
from carecoord.testing.factories import pathway_at, patient_at, user_with_roles
from carecoord.validation import digital
from carecoord.validation.models import DigitalMessage, ValidationTask

pytestmark = pytest.mark.django_db
OLD = timezone.localdate() - timedelta(weeks=20)


@pytest.fixture(autouse=True)
def _clear_rate_limit():
    cache.clear()


def _patient(trust, **kw):
    p = patient_at(trust)
    for k, v in {"consent_sms": True, "phone": "07700900123", "birth_date": date(1960, 3, 15), **kw}.items():
        setattr(p, k, v)
    p.save()
    return p


def _sent_batch(trust, *patients):
    for pt in patients:
        pathway_at(trust, pt, clinical_priority="P4", rtt_start=OLD)
    user = user_with_roles(trust, Role.VALIDATOR)
    batch = digital.create_batch(trust, name="P4 over 12 weeks", cohort=digital.Cohort(), by=user,
                                 auditor=Auditor(user, organisation=trust))
    digital.send(batch, auditor=Auditor(user, organisation=trust))
    return batch


def _token(msg: DigitalMessage) -> str:
    body = OutboxMessage.objects.get(reference=f"pidv:{msg.pk}").personalisation["link"]
    return re.search(r"/p/([^/]+)/", body).group(1)


RIGHT_DOB = {"dob-day": "15", "dob-month": "3", "dob-year": "1960"}  # _patient's date of birth


def _open(client, msg: DigitalMessage) -> str:
    """Follow the message's link and confirm the date of birth: the question is shown. Returns the link."""
    url = f"/p/{_token(msg)}/"
    r = client.post(url, RIGHT_DOB)
    assert r.status_code == 200 and "Do you still need care?" in r.content.decode()
    return url


def test_cohort_excludes_vulnerable_unconsented_and_children_without_a_parent(trust):
    ok = _patient(trust)
    vulnerable = _patient(trust, vulnerable=True)
    no_consent = _patient(trust, consent_sms=False, consent_email=False)
    child = _patient(trust, birth_date=timezone.localdate() - timedelta(days=365 * 8), parent_contact="")
    child_with_parent = _patient(trust, birth_date=timezone.localdate() - timedelta(days=365 * 8),
                                 parent_contact="Parent 07700900999")
    batch = _sent_batch(trust, ok, vulnerable, no_consent, child, child_with_parent)
    got = set(batch.messages.values_list("pathway__patient_id", flat=True))
    assert got == {ok.pk, child_with_parent.pk}


def test_the_link_reveals_nothing_before_the_birth_date_and_locks_after_three_wrong(client, trust):
    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    url = f"/p/{_token(msg)}/"
    first = client.get(url).content.decode()
    assert "date of birth" in first and trust.name not in first  # no clinical or provider detail yet
    for _ in range(2):
        r = client.post(url, {"dob-day": "1", "dob-month": "1", "dob-year": "1970"})
        assert r.status_code == 400 and "does not match" in r.content.decode()
    r = client.post(url, {"dob-day": "1", "dob-month": "1", "dob-year": "1970"})
    assert r.status_code == 410 and "locked" in r.content.decode()
    # even the right date no longer opens it
    assert client.post(url, RIGHT_DOB).status_code == 410


def test_answer_no_longer_needed_creates_a_clinical_task_not_a_removal_and_is_single_use(client, trust):
    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    url = _open(client, msg)
    r = client.post(url, {"a-answer": "no_longer_need", "a-text": "Had it done privately"})
    assert "Thank you" in r.content.decode()
    msg.refresh_from_db()
    assert msg.response == "no_longer_need" and msg.pathway.status == "on_list"
    assert msg.pathway.last_validated_on == timezone.localdate()
    assert ValidationTask.objects.get(pathway=msg.pathway).team == "clinical"
    assert client.get(url).status_code == 410  # single use
    client.force_login(user_with_roles(trust, Role.CLINICIAN))
    history = client.get(f"/validation/pathways/{msg.pathway_id}/").content.decode()
    assert "I no longer need it</strong>" in history and "Had it done privately" in history


def test_expired_and_unknown_links(client, trust):
    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    token = _token(msg)
    DigitalMessage.objects.filter(pk=msg.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(f"/p/{token}/").status_code == 410
    assert client.get("/p/not-a-real-token/").status_code == 404


def test_rate_limit_per_address(client):
    codes = [client.get("/p/nope/").status_code for _ in range(32)]
    assert codes[0] == 404 and codes[-1] == 429


def test_no_reply_gets_a_reminder_then_a_letter_and_stays_on_the_list(trust):
    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    assert digital.chase(now=timezone.now() + timedelta(days=8)) == {"reminders": 1, "letters": 0}
    assert digital.chase(now=timezone.now() + timedelta(days=15)) == {"reminders": 0, "letters": 1}
    msg.refresh_from_db()
    assert msg.reminder_sent_at and msg.letter_sent_at and msg.pathway.status == "on_list"


def test_the_letter_is_a_pdf_with_a_fresh_link_that_works(client, trust, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    old_token = _token(msg)
    digital.chase(now=timezone.now() + timedelta(days=8))  # the reminder first
    digital.chase(now=timezone.now() + timedelta(days=15))
    msg.refresh_from_db()
    letter = OutboxMessage.objects.get(reference=f"pidv:{msg.pk}", channel="letter")
    pdf = (tmp_path / "letters" / f"pidv-{batch.pk}-{msg.pk}.pdf")
    assert letter.personalisation["pdf_path"] == str(pdf) and pdf.read_bytes().startswith(b"%PDF")
    assert client.get(f"/p/{old_token}/").status_code == 404  # the text's link was replaced by the letter's
    assert msg.expires_at > timezone.now() + timedelta(days=13)
    # the letter can be downloaded again from the batch page, by the validation team only
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    page = client.get(f"/validation/digital/{batch.pk}/").content.decode()
    assert f"/validation/digital/{batch.pk}/letters/{msg.pk}.pdf" in page
    r = client.get(f"/validation/digital/{batch.pk}/letters/{msg.pk}.pdf")
    assert r.status_code == 200 and b"".join(r.streaming_content).startswith(b"%PDF")
    assert client.get(f"/validation/digital/{batch.pk}/letters/{msg.pk + 1}.pdf").status_code == 404


def test_batch_pages(client, trust):
    _patient(trust)
    client.force_login(user_with_roles(trust, Role.VALIDATOR))
    r = client.post("/validation/digital/", {"name": "", "min_weeks": "12", "not_contacted_weeks": "12"})
    assert r.status_code == 400 and "Name the batch" in r.content.decode()


def test_verifying_the_birth_date_opens_the_question_for_this_browser_only(client, trust):
    from django.test import Client

    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    url = _open(client, msg)
    # the link forwarded, or opened later on another device: the date of birth is asked again
    stranger = Client()
    page = stranger.get(url).content.decode()
    assert "Confirm your date of birth" in page and trust.name not in page
    r = stranger.post(url, {"a-answer": "no_longer_need"})
    assert r.status_code == 400 and "Confirm your date of birth" in r.content.decode()
    msg.refresh_from_db()
    assert msg.responded_at is None and not ValidationTask.objects.exists()
    # wrong dates from the stranger still count towards the lock
    for _ in range(3):
        stranger.post(url, {"dob-day": "1", "dob-month": "1", "dob-year": "1970"})
    msg.refresh_from_db()
    assert msg.locked_at is not None


def test_the_verification_expires(client, trust, monkeypatch):
    from carecoord.validation import patient_views

    batch = _sent_batch(trust, _patient(trust))
    url = f"/p/{_token(batch.messages.get())}/"
    client.post(url, RIGHT_DOB)
    assert "Do you still need this care?" in client.get(url).content.decode()
    later = __import__("time").time() + patient_views.VERIFIED_MINUTES * 60 + 1
    monkeypatch.setattr(patient_views.time, "time", lambda: later)
    assert "Confirm your date of birth" in client.get(url).content.decode()


def test_the_rate_limit_page_is_a_proper_page(client):
    for _ in range(31):
        client.get("/p/nope/")
    r = client.get("/p/nope/")
    body = r.content.decode()
    assert r.status_code == 429 and r["Content-Type"].startswith("text/html")
    assert '<html lang="en">' in body and "<title>Too many attempts" in body and "<h1>Too many attempts</h1>" in body


def test_no_chasing_once_the_pathway_left_the_list_or_the_patient_answered_another_message(trust):
    from carecoord.waitinglist.models import Pathway

    removed_pt, answered_pt, waiting_pt = _patient(trust), _patient(trust), _patient(trust)
    batch = _sent_batch(trust, removed_pt, answered_pt, waiting_pt)
    by_patient = {m.pathway.patient_id: m for m in batch.messages.select_related("pathway")}
    Pathway.objects.filter(pk=by_patient[removed_pt.pk].pathway_id).update(status="removed")
    # the same pathway was in an earlier batch, and the patient answered that one
    earlier = DigitalMessage.objects.create(batch=batch, pathway=by_patient[answered_pt.pk].pathway, channel="sms",
                                            token_hash="x" * 64, expires_at=timezone.now(),
                                            sent_at=timezone.now() - timedelta(days=20),
                                            responded_at=timezone.now(), response="still_need")
    assert digital.chase(now=timezone.now() + timedelta(days=8)) == {"reminders": 1, "letters": 0}
    assert digital.chase(now=timezone.now() + timedelta(days=15)) == {"reminders": 0, "letters": 1}
    chased = set(OutboxMessage.objects.filter(template__in=["pidv-reminder", "pidv-letter"])
                 .values_list("reference", flat=True))
    assert chased == {f"pidv:{by_patient[waiting_pt.pk].pk}"} and earlier.pk


def test_no_reminder_after_the_link_expired_the_letter_comes_next(trust):
    batch = _sent_batch(trust, _patient(trust))
    msg = batch.messages.get()
    DigitalMessage.objects.filter(pk=msg.pk).update(expires_at=timezone.now() + timedelta(days=5))
    assert digital.chase(now=timezone.now() + timedelta(days=8)) == {"reminders": 0, "letters": 0}
    assert digital.chase(now=timezone.now() + timedelta(days=15)) == {"reminders": 0, "letters": 1}
    # The letter's fresh link makes the message look remindable again: no reminder follows a letter.
    assert digital.chase(now=timezone.now() + timedelta(days=16)) == {"reminders": 0, "letters": 0}


def test_the_letter_gives_the_phone_number_and_links_follow_the_senders_address(client, trust, settings, tmp_path,
                                                                                monkeypatch):
    from carecoord.core import letters

    settings.DATA_DIR = tmp_path
    settings.CARECOORD_WAITING_LIST_PHONE = {trust.ods_code: "0300 123 4567"}
    settings.CARECOORD_PUBLIC_URL = ""  # unset: the link takes the address the batch was sent from
    seen = []
    real = letters.render
    monkeypatch.setattr(letters, "render", lambda ls, **kw: seen.extend(ls) or real(ls, **kw))
    pathway_at(trust, _patient(trust), clinical_priority="P4", rtt_start=OLD)
    user = user_with_roles(trust, Role.VALIDATOR)
    batch = digital.create_batch(trust, name="b", cohort=digital.Cohort(), by=user,
                                 auditor=Auditor(user, organisation=trust))
    client.force_login(user)
    client.post(f"/validation/digital/{batch.pk}/send/", HTTP_HOST="localhost:8123")
    link = OutboxMessage.objects.get(template="pidv-invite").personalisation["link"]
    assert link.startswith("http://localhost:8123/p/")
    digital.chase(now=timezone.now() + timedelta(days=8))
    digital.chase(now=timezone.now() + timedelta(days=15))
    text = " ".join(seen[0].paragraphs) + " ".join(v for _, v in seen[0].details)
    assert "phone the waiting list office on 0300 123 4567." in text
