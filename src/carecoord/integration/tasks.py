"""Background imports: the upload page stores the file and starts a Job; the worker runs this."""

from __future__ import annotations

from pathlib import Path

from django_tasks import task

from carecoord.core.models import Job, Organisation, User
from carecoord.core.services.audit import Auditor
from carecoord.core.services.jobs import JobReporter


@task()
def run_import(job_id: int) -> None:
    JobReporter(job_id).run(_run)


def _run(reporter: JobReporter) -> None:
    from carecoord.integration import services
    from carecoord.integration.models import MappingProfile

    job = Job.objects.select_related("organisation", "started_by").get(pk=reporter.job_id)
    params = job.params
    provider = Organisation.objects.get(pk=params["provider_id"])
    user = User.objects.filter(pk=params.get("user_id")).first()
    profile = MappingProfile.objects.filter(pk=params["profile_id"], organisation=provider).first() \
        if params.get("profile_id") else None
    auditor = Auditor(user, organisation=provider) if user else Auditor.system(f"job:{job.pk}", organisation=provider)
    path = Path(params["path"])
    state = {"done": 0, "total": None}

    def start(total):
        state["total"] = total
        reporter.progress(0, total=total, message="Reading and checking rows")

    def advance(n):
        state["done"] += n
        reporter.progress(state["done"], message="Reading and checking rows")

    progress = services.Progress(start=start, advance=advance,
                                 phase=lambda m: reporter.progress(state["done"], message=m))
    try:
        batch = services.import_wlmds(path, provider=provider, auditor=auditor, kind=params["kind"],
                                      mode=params["mode"], profile=profile, filename=params.get("filename"),
                                      user=user, progress=progress, sha256=params.get("sha256", ""))
    except services.ImportRefused as exc:
        link = services.report_path(exc.batch) if exc.batch else None
        reporter.fail([str(exc)], message="Refused: nothing was loaded")
        if link:
            Job.objects.filter(pk=job.pk).update(result={"link": link, "link_text": "See the import report"})
        return
    except services.ImportFileError as exc:
        reporter.fail([str(exc)], message="The file could not be imported")
        return
    finally:
        path.unlink(missing_ok=True)
    result = {**services.outcome(batch), "link": services.report_path(batch), "link_text": "See the import report"}
    if batch.status == batch.Status.LOADED:
        # Validate the provider's list straight after the import (issue 4: a run after each import).
        from carecoord.validation import runner

        reporter.progress(state["done"], message="Running the validation rules on the updated list")
        run = runner.run(organisation=provider, trigger="import", user=user)
        result["validation_run"] = run.pk
        result["validation_findings"] = sum(run.findings_by_rule.values())
        reporter.succeed(result, message=f"{batch.message}; validation: {result['validation_findings']} findings")
    else:
        reporter.fail([batch.message], message="Rejected: nothing was loaded")
        Job.objects.filter(pk=job.pk).update(result=result)
