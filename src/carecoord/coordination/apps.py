from django.apps import AppConfig


class CoordinationConfig(AppConfig):
    name = "carecoord.coordination"
    label = "coordination"
    verbose_name = "System coordination centre"
