"""Patient-initiated digital validation: choose a cohort, send each patient a single-use, expiring
link through the notifier, and record what they answer after a date-of-birth check.

Safeguards (reference waiting-list.md §4.3 and issue 4): patients flagged vulnerable, without consent
to digital contact, or children without a parent contact are excluded; the link shows nothing
clinical before the date of birth is confirmed; three wrong dates of birth lock it; it works once
and expires. "No longer need" and "had it elsewhere" create a clinical-validation task — never a
removal. Every answer updates the pathway's last-validated date. No reply: a reminder after N days,
then a letter (`chase`); no answer keeps the patient on the list.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from carecoord.core.notify import Channel, Message, get_notifier
from carecoord.core.services.audit import Auditor, snapshot
from carecoord.validation import workflows
from carecoord.validation.models import DigitalBatch, DigitalMessage, DigitalResponse
from carecoord.waitinglist.models import PathwayStatus, scoped_pathways

CHILD_AGE = 16


class DigitalError(ValueError):
    pass


@dataclass(frozen=True)
class Cohort:
    min_weeks: int = 12
    not_contacted_weeks: int = 12
    list_type: str = ""
    priority: str = "P4"

    def as_dict(self) -> dict:
        return {"min_weeks": self.min_weeks, "not_contacted_weeks": self.not_contacted_weeks,
                "list_type": self.list_type, "priority": self.priority}


def cohort_queryset(organisation, cohort: Cohort, today: date | None = None):
    today = today or timezone.localdate()
    child_born_after = today - timedelta(days=365 * CHILD_AGE + 4)
    qs = (scoped_pathways(organisation).filter(provider=organisation, status="on_list", clock_state="open",
                                                rtt_start__lte=today - timedelta(weeks=cohort.min_weeks))
          .filter(Q(last_validated_on__isnull=True)
                  | Q(last_validated_on__lt=today - timedelta(weeks=cohort.not_contacted_weeks)))
          .exclude(digital_messages__sent_at__gte=timezone.now() - timedelta(weeks=cohort.not_contacted_weeks))
          .filter(patient__vulnerable=False)
          .filter(Q(patient__consent_sms=True) | Q(patient__consent_email=True))
          .exclude(Q(patient__birth_date__gt=child_born_after) & Q(patient__parent_contact="")))
    if cohort.list_type:
        qs = qs.filter(list_type=cohort.list_type)
    if cohort.priority:
        qs = qs.filter(clinical_priority=cohort.priority)
    return qs.select_related("patient").order_by("queue_date", "id")


def create_batch(organisation, *, name: str, cohort: Cohort, by, auditor: Auditor) -> DigitalBatch:
    if not name.strip():
        raise DigitalError("give the batch a name")
    batch = DigitalBatch.objects.create(organisation=organisation, name=name.strip()[:120], cohort=cohort.as_dict(),
                                        created_by=by)
    auditor.create(batch, summary="digital validation batch created")
    return batch


def link_for(token: str, base_url: str = "") -> str:
    """The patient's link: `CARECOORD_PUBLIC_URL` when set, else the address the sender used (when sent
    from a page), else the development server's (production settings refuse to start without the
    setting, so a letter the worker builds never points at localhost)."""
    base = settings.CARECOORD_PUBLIC_URL or base_url or "http://127.0.0.1:8000"
    return f"{base.rstrip('/')}/p/{token}/"


@transaction.atomic
def send(batch: DigitalBatch, *, auditor: Auditor, limit: int = 5000, base_url: str = "") -> int:
    """Create a message per patient in the cohort and send it; returns how many were sent.

    The batch row is locked first, so a second "Send" (a double click, two people) waits for the first
    and is then refused as already sent: each patient gets one link and one reminder chain."""
    batch = DigitalBatch.objects.select_for_update().select_related("organisation").get(pk=batch.pk)
    if batch.status == DigitalBatch.Status.SENT:
        raise DigitalError("this batch has already been sent")
    notifier = get_notifier()
    sent = 0
    now = timezone.now()
    for p in cohort_queryset(batch.organisation, Cohort(**batch.cohort))[:limit]:
        token = secrets.token_urlsafe(24)
        channel = Channel.SMS if p.patient.consent_sms and p.patient.phone else Channel.EMAIL
        to = p.patient.phone if channel == Channel.SMS else p.patient.email
        if not to:
            continue
        msg = DigitalMessage.objects.create(batch=batch, pathway=p, channel=channel,
                                            token_hash=DigitalMessage.hash_token(token),
                                            expires_at=now + timedelta(days=batch.link_days), sent_at=now)
        notifier.send(Message(channel=channel, to=to, template="pidv-invite",
                              personalisation={"provider": batch.organisation.name, "link": link_for(token, base_url)},
                              reference=f"pidv:{msg.pk}"))
        sent += 1
    before = snapshot(batch)
    batch.status, batch.sent_at = DigitalBatch.Status.SENT, now
    batch.save(update_fields=["status", "sent_at"])
    auditor.update(batch, before, summary=f"sent to {sent} patients")
    return sent


def find(token: str) -> DigitalMessage | None:
    return (DigitalMessage.objects.select_related("pathway__patient", "pathway__provider", "batch")
            .filter(token_hash=DigitalMessage.hash_token(token)).first())


def state(msg: DigitalMessage | None) -> str:
    if msg is None:
        return "unknown"
    if msg.responded_at:
        return "used"
    if msg.locked_at:
        return "locked"
    if msg.expires_at <= timezone.now():
        return "expired"
    return "verified" if msg.verified_at else "new"


@transaction.atomic
def check_birth_date(msg: DigitalMessage, given: date) -> bool:
    msg = DigitalMessage.objects.select_for_update().get(pk=msg.pk)
    if state(msg) not in ("new", "verified"):
        return False
    if msg.pathway.patient.birth_date == given:
        msg.verified_at = timezone.now()
        msg.save(update_fields=["verified_at"])
        return True
    msg.dob_failures += 1
    if msg.dob_failures >= DigitalMessage.MAX_DOB_ATTEMPTS:
        msg.locked_at = timezone.now()
    msg.save(update_fields=["dob_failures", "locked_at"])
    return False


@transaction.atomic
def respond(msg: DigitalMessage, answer: str, text: str) -> DigitalMessage:
    msg = DigitalMessage.objects.select_for_update().select_related("pathway").get(pk=msg.pk)
    if state(msg) != "verified":
        raise DigitalError("this link cannot take an answer")
    if answer not in DigitalResponse.values:
        raise DigitalError("choose one of the answers")
    auditor = Auditor.system(f"pidv:{msg.pk}", organisation=msg.pathway.provider)
    msg.response, msg.response_text, msg.responded_at = answer, text.strip()[:2000], timezone.now()
    msg.save(update_fields=["response", "response_text", "responded_at"])
    auditor.event("update", msg, summary=f"patient answered: {answer}")
    pathway = msg.pathway
    before = snapshot(pathway)
    pathway.last_validated_on = timezone.localdate()
    pathway.last_validated_by = "patient (digital validation)"
    pathway.save(update_fields=["last_validated_on", "last_validated_by"])
    auditor.update(pathway, before, summary="validated by the patient")
    if (answer in (DigitalResponse.NO_LONGER_NEED, DigitalResponse.HAD_ELSEWHERE, DigitalResponse.NOT_SURE)
            and pathway.status == PathwayStatus.ON_LIST):  # off the list since: nothing left to review
        workflows.escalate(pathway, reason=f"Patient answered online: {DigitalResponse(answer).label}",
                           auditor=auditor, source="digital:response")
    return msg


def chase(now=None) -> dict:
    """Reminders after `reminder_after_days` without a reply, then a letter after `letter_after_days`.
    Nobody is removed for not answering.

    Nobody is chased once their pathway has left the list, or once they have answered any invitation
    for that pathway (another batch's message). A reminder goes only while the link still works (it
    points to that link); past its expiry the letter, with a fresh link, is the next step."""
    now = now or timezone.now()
    notifier = get_notifier()
    reminded = lettered = 0
    answered = DigitalMessage.objects.filter(pathway=OuterRef("pathway"), responded_at__isnull=False)
    pending = (DigitalMessage.objects.filter(responded_at__isnull=True, locked_at__isnull=True, sent_at__isnull=False,
                                             pathway__status=PathwayStatus.ON_LIST)
               .exclude(Exists(answered))
               .filter(Q(reminder_sent_at__isnull=True) | Q(letter_sent_at__isnull=True))
               .select_related("batch", "pathway__patient", "pathway__provider"))
    for msg in pending:
        age = now - msg.sent_at
        patient = msg.pathway.patient
        if (msg.reminder_sent_at is None and msg.letter_sent_at is None  # a letter's fresh link is not the text's
                and age >= timedelta(days=msg.batch.reminder_after_days) and msg.expires_at > now):
            to = patient.phone if msg.channel == Channel.SMS else patient.email
            notifier.send(Message(channel=msg.channel, to=to, template="pidv-reminder",
                                  personalisation={"provider": msg.pathway.provider.name}, reference=f"pidv:{msg.pk}"))
            msg.reminder_sent_at = now
            msg.save(update_fields=["reminder_sent_at"])
            reminded += 1
        elif msg.letter_sent_at is None and age >= timedelta(days=msg.batch.letter_after_days):
            # The text or email link has expired by now: the letter carries a fresh one (same message).
            token = secrets.token_urlsafe(24)
            msg.token_hash = DigitalMessage.hash_token(token)
            msg.expires_at = now + timedelta(days=msg.batch.link_days)
            path = letter_path(msg)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(letter_pdf(msg, link_for(token)))
            notifier.send(Message(channel=Channel.LETTER, to=patient.postcode_district or "address on file",
                                  template="pidv-letter",
                                  personalisation={"provider": msg.pathway.provider.name, "pdf_path": str(path)},
                                  reference=f"pidv:{msg.pk}"))
            msg.letter_sent_at = now
            msg.save(update_fields=["letter_sent_at", "token_hash", "expires_at"])
            lettered += 1
    return {"reminders": reminded, "letters": lettered}


def waiting_list_phone(provider) -> str:
    """The waiting list office's phone number for letters: `CARECOORD_WAITING_LIST_PHONE`, a mapping of
    ODS code to number (organisations hold no phone number), or one number for every provider."""
    setting = settings.CARECOORD_WAITING_LIST_PHONE
    if isinstance(setting, dict):
        return setting.get(provider.ods_code, "") or setting.get("*", "")
    return setting


def letter_path(msg: DigitalMessage):
    return settings.DATA_DIR / "letters" / f"pidv-{msg.batch_id}-{msg.pk}.pdf"


def letter_pdf(msg: DigitalMessage, link: str) -> bytes:
    """The letter for a patient who did not answer the text or email: the same questions, a fresh link,
    and a phone number; no clinical detail beyond the hospital's name."""
    from carecoord.core import letters

    provider = msg.pathway.provider
    phone = waiting_list_phone(provider)
    return letters.render([letters.Letter(
        sender=[provider.name, "Waiting list office"], dated=timezone.localdate(),
        **letters.addressed_to(msg.pathway.patient),
        heading="Do you still need your hospital appointment or treatment?",
        details=[("Answer online", link), ("Link works until", f"{msg.expires_at:%d %B %Y}"),
                 *([("Phone", phone)] if phone else [])],
        paragraphs=[
            f"You are on a waiting list at {provider.name}. We are checking that everyone on our waiting lists "
            "still needs their care, so that we can see patients as quickly as possible.",
            "Please tell us whether you still need care, no longer need it, have had it elsewhere, would like "
            "to delay it, or are not sure. Go to the web address above and confirm your date of birth; it "
            "takes about a minute. If you cannot go online, please phone the waiting list office"
            + (f" on {phone}." if phone else "."),
            "If we do not hear from you, you will stay on the waiting list. Nobody is removed from the list "
            "without a clinician's decision.",
        ],
        sign_off=("Yours sincerely,", "", "Waiting list office"))], title="Waiting list letter")
