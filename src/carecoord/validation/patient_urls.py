from django.urls import path

from carecoord.validation import patient_views

app_name = "patient"

# The patient-facing digital validation page (no login; /p/ is a public prefix).
urlpatterns = [
    path("<str:token>/", patient_views.link, name="link"),
]
