from django.apps import AppConfig


class WaitinglistConfig(AppConfig):
    name = "carecoord.waitinglist"
    label = "waitinglist"
    verbose_name = "Elective waiting list"

    def ready(self):
        from carecoord.core import navigation
        from carecoord.waitinglist import permissions  # noqa: F401  (registers the django-rules permissions)

        navigation.register(navigation.NavItem(
            "Waiting list", "waitinglist:ptl", "waitinglist.view_ptl", order=10,
            description="The patient tracking list: treat in turn, record priorities and TCI dates"))
        navigation.register(navigation.NavItem(
            "RTT waiting times", "waitinglist:rtt_report", "waitinglist.view_reports", order=15,
            description="18-week performance, median and 92nd-percentile waits, long waiters, by provider and specialty"))
