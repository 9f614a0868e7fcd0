from django.apps import AppConfig


class SynthConfig(AppConfig):
    name = "carecoord.synth"
    label = "synth"
    verbose_name = "Synthetic health system"

    def ready(self):
        # Register the core steps; other apps register theirs in their own ready().
        from carecoord.synth import core_steps, scc_data, theatre_data, waitinglist_data  # noqa: F401
