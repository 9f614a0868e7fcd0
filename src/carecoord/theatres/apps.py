from django.apps import AppConfig


class TheatresConfig(AppConfig):
    name = "carecoord.theatres"
    label = "theatres"
    verbose_name = "Theatre scheduling"
