from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "carecoord.integration"
    label = "integration"
    verbose_name = "Imports and exports"
