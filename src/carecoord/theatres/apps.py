from django.apps import AppConfig


class TheatresConfig(AppConfig):
    name = "carecoord.theatres"
    label = "theatres"
    verbose_name = "Theatre scheduling"

    def ready(self):
        from carecoord.core import navigation
        from carecoord.theatres import permissions  # noqa: F401  (registers the permissions)

        navigation.register(navigation.NavItem(
            "Theatres", "theatres:calendar", "theatres.view", order=30,
            description="Theatre lists by week, predicted finish and overrun risk, and suggested patients"))
