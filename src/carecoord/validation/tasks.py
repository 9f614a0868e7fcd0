"""Background validation runs (the worklist page's button; the nightly command runs inline)."""

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
    run = runner.run(organisation=job.organisation, trigger="manual", user=user)
    total = sum(run.findings_by_rule.values())
    reporter.succeed({"run_id": run.pk, "pathways_checked": run.pathways_checked, "findings": total,
                      "link": "/validation/", "link_text": "Open the worklist"},
                     message=f"{run.pathways_checked:,} pathways checked: {total:,} findings, "
                             f"{run.opened:,} new, {run.closed:,} closed")
