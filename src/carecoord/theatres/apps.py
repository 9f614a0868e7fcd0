from django.apps import AppConfig


class TheatresConfig(AppConfig):
    name = "carecoord.theatres"
    label = "theatres"
    verbose_name = "Theatre scheduling"

    def ready(self):
        from carecoord.core import navigation
        from carecoord.theatres import permissions  # noqa: F401  (registers the permissions)
        from carecoord.waitinglist.signals import pathway_removed

        pathway_removed.connect(_cancel_on_removal, dispatch_uid="theatres-cancel-on-removal")

        navigation.register(navigation.NavItem(
            "Theatres", "theatres:calendar", "theatres.view", order=30,
            description="Theatre lists by week, predicted finish and overrun risk, and suggested patients"))


def _cancel_on_removal(sender, **kwargs):
    """A patient removed from the waiting list keeps no live theatre booking (`services.cancel_on_removal`;
    imported here, not at start-up, so loading Django does not load the planner)."""
    from carecoord.theatres import services

    services.cancel_on_removal(**kwargs)
