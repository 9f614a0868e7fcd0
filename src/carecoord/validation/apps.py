from django.apps import AppConfig


class ValidationConfig(AppConfig):
    name = "carecoord.validation"
    label = "validation"
    verbose_name = "Waiting-list validation"
