from django.apps import AppConfig


class ValidationConfig(AppConfig):
    name = "carecoord.validation"
    label = "validation"
    verbose_name = "Waiting-list validation"

    def ready(self):
        from carecoord.core import navigation
        from carecoord.validation import permissions  # noqa: F401  (registers the permissions)

        navigation.register(navigation.NavItem(
            "Validation", "validation:worklist", "validation.view_worklist", order=20,
            description="Technical validation findings (rules T1–T21) routed to each team's worklist"))
