from django.urls import path

from carecoord.validation import digital_views

# Digital validation (batches, messages) pages, included by validation/urls.py.
urlpatterns = [
    path("", digital_views.batches, name="digital_batches"),
    path("<int:pk>/", digital_views.batch_detail, name="digital_batch"),
    path("<int:pk>/send/", digital_views.send, name="digital_send"),
    path("<int:pk>/letters/<int:msg>.pdf", digital_views.letter, name="digital_letter"),
]
