"""Background jobs: a `Job` row tracks each piece of long work for the task page, and the
django-tasks task that does it reports progress through a `JobReporter`."""

from __future__ import annotations

import logging
import traceback

from django.db import transaction
from django.utils import timezone

from carecoord.core.models import Job

log = logging.getLogger(__name__)


def start_job(task, *, kind: str, title: str, organisation=None, user=None, params: dict | None = None) -> Job:
    """Create the Job row and enqueue `task(job_id)` once the transaction commits."""
    job = Job.objects.create(kind=kind, title=title, organisation=organisation,
                             started_by=user if getattr(user, "pk", None) else None, params=params or {})

    def _enqueue():
        result = task.enqueue(job.pk)
        Job.objects.filter(pk=job.pk).update(task_result_id=str(getattr(result, "id", "")))

    transaction.on_commit(_enqueue)
    return job


class JobReporter:
    """Used inside a task: progress, then success or failure. Writes go straight to the row so
    the task page sees them while the task's own transaction is still open elsewhere."""

    def __init__(self, job_id: int):
        self.job_id = job_id

    @property
    def job(self) -> Job:
        return Job.objects.get(pk=self.job_id)

    def start(self, total: int | None = None, message: str = "") -> None:
        Job.objects.filter(pk=self.job_id).update(state=Job.State.RUNNING, started_at=timezone.now(),
                                                  progress_total=total, message=message[:300])

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        fields = {"progress_done": done}
        if total is not None:
            fields["progress_total"] = total
        if message is not None:
            fields["message"] = message[:300]
        Job.objects.filter(pk=self.job_id).update(**fields)

    def succeed(self, result: dict | None = None, message: str = "Done", errors: list | None = None) -> None:
        Job.objects.filter(pk=self.job_id).update(state=Job.State.SUCCEEDED, finished_at=timezone.now(),
                                                  result=result, message=message[:300], errors=errors or [])

    def fail(self, errors: list[str], message: str = "Failed") -> None:
        Job.objects.filter(pk=self.job_id).update(state=Job.State.FAILED, finished_at=timezone.now(),
                                                  errors=errors[:1000], message=message[:300])

    def run(self, fn, *args, **kwargs):
        """Run fn(reporter, ...) and record an unexpected exception as a failure (no PII: only the
        exception type and message, which our code never fills with patient identifiers)."""
        self.start()
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the job must record why it failed
            log.error("job %s failed: %s", self.job_id, type(exc).__name__)
            self.fail([f"{type(exc).__name__}: {exc}"], message="Failed unexpectedly")
            log.debug("%s", traceback.format_exc())
            raise
