from django.apps import AppConfig


class CoordinationConfig(AppConfig):
    name = "carecoord.coordination"
    label = "coordination"
    verbose_name = "System coordination centre"

    def ready(self):
        from carecoord.coordination import permissions  # noqa: F401  (registers the permissions)
        from carecoord.core import navigation

        navigation.register(navigation.NavItem(
            "Coordination centre", "coordination:board", "coordination.view_board", order=40,
            description="Live OPEL levels and operational pressures across the system's providers"))
