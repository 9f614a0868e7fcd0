"""The booking guard's refusals read as sentences a scheduler sees (whole minutes, no internal ids)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION theatres_booking_guard() RETURNS trigger AS $$
DECLARE
  s theatres_theatresession%ROWTYPE;
  org_id bigint;
  booked integer;
  poa_until date;
BEGIN
  SELECT * INTO s FROM theatres_theatresession WHERE id = NEW.session_id FOR UPDATE;
  -- Keep the denormalised columns the exclusion constraint relies on in step.
  NEW.during := s.during;
  SELECT patient_id INTO NEW.patient_id_copy FROM waitinglist_pathway WHERE id = NEW.pathway_id;
  IF NEW.status NOT IN ('provisional', 'confirmed', 'tci_sent') THEN
    RETURN NEW;
  END IF;
  IF s.status IN ('cancelled', 'completed') THEN
    RAISE EXCEPTION 'the list is %: it cannot take bookings', s.status USING ERRCODE = 'check_violation';
  END IF;

  SELECT si.organisation_id INTO org_id FROM theatres_theatre t JOIN core_site si ON si.id = t.site_id
   WHERE t.id = s.theatre_id;
  IF EXISTS (SELECT 1 FROM theatres_consultantleave l
              WHERE l.organisation_id = org_id AND l.consultant_code = s.consultant_code
                AND s.date BETWEEN l.starts_on AND l.ends_on) THEN
    RAISE EXCEPTION 'consultant % is on leave on %', s.consultant_code, s.date USING ERRCODE = 'check_violation';
  END IF;

  SELECT poa_valid_until INTO poa_until FROM waitinglist_pathway WHERE id = NEW.pathway_id;
  IF poa_until IS NOT NULL AND poa_until < s.date THEN
    RAISE EXCEPTION 'pre-operative assessment expires on % before the session on %', poa_until, s.date
      USING ERRCODE = 'check_violation';
  END IF;

  SELECT COALESCE(SUM(predicted_minutes), 0) INTO booked FROM theatres_booking
   WHERE session_id = NEW.session_id AND status IN ('provisional', 'confirmed', 'tci_sent') AND id <> NEW.id;
  IF booked + NEW.predicted_minutes >
     EXTRACT(EPOCH FROM (s.ends_at - s.starts_at)) / 60 + s.allowed_overrun_minutes THEN
    RAISE EXCEPTION 'the list is full: % minutes booked + % would exceed its % minutes plus % allowed overrun',
      booked, NEW.predicted_minutes, (EXTRACT(EPOCH FROM (s.ends_at - s.starts_at)) / 60)::int,
      s.allowed_overrun_minutes USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("theatres", "0002_booking_safety_trigger")]
    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
