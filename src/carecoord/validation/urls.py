from django.urls import include, path  # noqa: F401

app_name = "validation"

urlpatterns = [
    path("digital/", include("carecoord.validation.digital_urls")),
]
