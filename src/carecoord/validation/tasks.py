"""Background validation runs: the worklist page's button, after an API import, and the nightly schedule
(`carecoord validate run` runs inline)."""

from __future__ import annotations

from django_tasks import task

from carecoord.core.models import Job, User
from carecoord.core.services.jobs import JobReporter


@task()
def run_validation(job_id: int) -> None:
    JobReporter(job_id).run(_run)


def _run(reporter: JobReporter) -> None:
    from carecoord.validation import runner

    job = Job.objects.select_related("organisation").get(pk=reporter.job_id)
    user = User.objects.filter(pk=job.params.get("user_id")).first()
    reporter.progress(0, total=1, message="Loading the list and running rules T1–T21")
    run = runner.run(organisation=job.organisation, trigger=job.params.get("trigger", "manual"), user=user)
    total = sum(run.findings_by_rule.values())
    reporter.succeed({"run_id": run.pk, "pathways_checked": run.pathways_checked, "findings": total,
                      "link": "/validation/", "link_text": "Open the worklist"},
                     message=f"{run.pathways_checked:,} pathways checked: {total:,} findings, "
                             f"{run.opened:,} new, {run.closed:,} closed")


def start_run(organisation, *, trigger: str, user=None):
    """Queue a validation run of one provider's list (a Job the task page shows)."""
    from carecoord.core.services.jobs import start_job

    return start_job(run_validation, kind="validation_run", title="Validation run (rules T1–T21)",
                     organisation=organisation, user=user,
                     params={"user_id": getattr(user, "pk", None), "trigger": trigger})


def nightly(now=None) -> str:
    """The nightly schedule: queue a validation run for every provider that has a list."""
    from carecoord.core.models import Organisation
    from carecoord.waitinglist.models import Pathway

    providers = Organisation.objects.filter(pk__in=Pathway.objects.values("provider_id").distinct())
    n = 0
    for org in providers:
        start_run(org, trigger="nightly")
        n += 1
    return f"{n} validation runs queued"


def chase(now=None) -> str:
    """Daily: reminders, then letters, for digital validation messages without an answer."""
    from carecoord.validation import digital

    out = digital.chase(now=now)
    return f"{out['reminders']} reminders, {out['letters']} letters"
