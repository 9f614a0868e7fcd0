from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "carecoord.escalation"
    label = "escalation"
    verbose_name = "Escalation, mutual aid and sitreps"
