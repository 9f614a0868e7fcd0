"""One open validation task per pathway and team.

Duplicate open tasks (from double clicks before this constraint) are resolved first, safely: nothing
is deleted. Per pathway and team the oldest open task stays open (taking over an assignee if only a
duplicate had one); the others are done with outcome "duplicate", each with an audit row. The table
is locked against new tasks until the unique index exists, so no duplicate can slip in between.
"""

from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone

JOB = "migration:validation.0002"


def resolve_duplicates(apps, schema_editor):
    Task = apps.get_model("validation", "ValidationTask")
    AuditLog = apps.get_model("core", "AuditLog")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("LOCK TABLE validation_validationtask IN SHARE ROW EXCLUSIVE MODE")
    now = timezone.now()
    keys = (Task.objects.filter(status="open").values("pathway_id", "team")
            .annotate(n=models.Count("id")).filter(n__gt=1))
    for key in keys:
        tasks = list(Task.objects.filter(status="open", pathway_id=key["pathway_id"], team=key["team"])
                     .select_related("pathway").order_by("created_at", "id"))
        keep, dups = tasks[0], tasks[1:]
        if keep.assigned_to_id is None:
            assignee = next((t.assigned_to_id for t in dups if t.assigned_to_id), None)
            if assignee:
                keep.assigned_to_id = assignee
                keep.save(update_fields=["assigned_to"])
                AuditLog.objects.create(
                    system_job=JOB, action="update", object_type="validation.validationtask", object_id=str(keep.pk),
                    organisation_id=keep.pathway.provider_id, before={"assigned_to": None},
                    after={"assigned_to": assignee}, summary="assignee taken over from a duplicate task")
        for t in dups:
            t.status, t.done_at, t.outcome = "done", now, "duplicate"
            t.save(update_fields=["status", "done_at", "outcome"])
            AuditLog.objects.create(
                system_job=JOB, action="update", object_type="validation.validationtask", object_id=str(t.pk),
                organisation_id=t.pathway.provider_id, before={"status": "open", "done_at": None, "outcome": ""},
                after={"status": "done", "done_at": now.isoformat(), "outcome": "duplicate"},
                summary=f"duplicate of open task {keep.pk}: closed before the one-open-task constraint")


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_outbox"),
        ("validation", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(resolve_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="validationtask",
            constraint=models.UniqueConstraint(condition=Q(status="open"), fields=("pathway", "team"),
                                               name="one_open_task_per_pathway_team"),
        ),
    ]
