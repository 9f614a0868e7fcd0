import json
from pathlib import Path

from django.db import migrations

CARDS = Path(__file__).resolve().parents[1] / "default_cards.json"


def load(apps, schema_editor):
    ActionCard = apps.get_model("escalation", "ActionCard")
    data = json.loads(CARDS.read_text())
    for c in data["cards"]:
        ActionCard.objects.get_or_create(system=None, level=c["level"], pillar=c["pillar"], title=c["title"],
                                         defaults={"detail": c["detail"], "source": data["source"][:300],
                                                   "confirmed": False})


class Migration(migrations.Migration):
    dependencies = [("escalation", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
