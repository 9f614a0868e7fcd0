from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "carecoord.integration"
    label = "integration"
    verbose_name = "Imports and exports"

    def ready(self):
        from carecoord.core import navigation

        navigation.register(navigation.NavItem(
            "Imports", "integration:imports", "waitinglist.import", order=60,
            description="Load WLMDS extracts (open pathways, clock starts and stops) and see what was rejected"))
