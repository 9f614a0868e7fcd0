from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "carecoord.escalation"
    label = "escalation"
    verbose_name = "Escalation, mutual aid and sitreps"

    def ready(self):
        from carecoord.coordination.signals import opel_scored
        from carecoord.escalation import services

        opel_scored.connect(services.on_scored, dispatch_uid="escalation-start-actions")
