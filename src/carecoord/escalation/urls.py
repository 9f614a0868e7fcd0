from django.urls import path

from carecoord.escalation import views

app_name = "escalation"

urlpatterns = [
    path("", views.log, name="log"),
    path("actions/<int:pk>/", views.act, name="act"),
]
