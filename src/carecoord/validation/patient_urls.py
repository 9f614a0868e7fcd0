from django.urls import path  # noqa: F401

app_name = "patient"

# The patient-facing digital validation page (no login; /p/ is a public prefix).
urlpatterns = []
