from django.urls import path  # noqa: F401

# Digital validation (batches, messages) pages, included by validation/urls.py.
urlpatterns = []
