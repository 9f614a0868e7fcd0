"""Assisted scheduling as a background task: the plan page starts it, the task page shows its
progress (loading, then the solver's time as it runs), and the result is reviewed at
/theatres/plans/<job>/ where the scheduler accepts or rejects each suggestion."""

from __future__ import annotations

import threading
import time
from datetime import date

from django.db import connection
from django_tasks import task

from carecoord.core.models import Job
from carecoord.core.services.jobs import JobReporter

POA_PROMPTS = 50  # most urgent patients not booked for want of a valid pre-operative assessment


@task()
def run_plan(job_id: int) -> None:
    JobReporter(job_id).run(_run)


def _ticker(reporter: JobReporter, seconds: float, stop: threading.Event) -> None:
    """Report the solver's elapsed time against its limit while it runs (its own DB connection)."""
    started = time.monotonic()
    try:
        while not stop.wait(1.0):
            done = min(int(time.monotonic() - started) + 1, int(seconds))
            reporter.progress(2 + done, message=f"Solving: {done} of at most {int(seconds)} seconds")
    finally:
        connection.close()


def _run(reporter: JobReporter) -> None:
    from carecoord.theatres import planner, services

    job = Job.objects.select_related("organisation").get(pk=reporter.job_id)
    params = job.params
    start, weeks = date.fromisoformat(params["start"]), int(params["weeks"])
    seconds, seed = float(params.get("seconds", 20)), int(params.get("seed", 0))
    total = 3 + int(seconds)
    reporter.progress(1, total=total, message="Loading lists, leave, ready patients and case history")
    data = services.inputs(job.organisation, start, weeks)
    reporter.progress(2, message=f"{len(data.sessions)} lists, {len(data.cases)} patients: solving")
    stop = threading.Event()
    ticker = threading.Thread(target=_ticker, args=(reporter, seconds, stop), daemon=True)
    ticker.start()
    try:
        result = services.solve(data, start, seconds=seconds, seed=seed)
    finally:
        stop.set()
        ticker.join()
    out = services.plan_json(result, data)
    for i, row in enumerate(out["suggested_bookings"]):
        row.update({"i": i, "state": "suggested"})
    unbooked = sorted((u for u in result.unbooked if u.reason in ("not_ready", "poa_expires")),
                      key=lambda u: (planner.RANK.get(data.pathways[u.entry_id].clinical_priority, 9),
                                     data.pathways[u.entry_id].queue_date or start))
    out["poa_prompts"] = [{"pathway": u.entry_id, "ppid": data.pathways[u.entry_id].ppid,
                           "priority": data.pathways[u.entry_id].clinical_priority,
                           "poa_status": data.pathways[u.entry_id].get_poa_status_display(),
                           "queue_date": (data.pathways[u.entry_id].queue_date or start).isoformat(),
                           "detail": u.detail} for u in unbooked[:POA_PROMPTS]]
    out.update({"start": start.isoformat(), "weeks": weeks, "link": f"/theatres/plans/{job.pk}/",
                "link_text": "Review the suggested bookings"})
    message = out["note"] or (f"{len(out['suggested_bookings'])} bookings suggested over {len(data.sessions)} "
                              f"lists ({result.status}, {result.seconds:.1f} s)")
    reporter.succeed(out, message=message)

