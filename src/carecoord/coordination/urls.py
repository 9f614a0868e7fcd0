from django.urls import path

from carecoord.coordination import views

app_name = "coordination"

urlpatterns = [
    path("", views.board, name="board"),
    path("stream/", views.stream, name="stream"),
    path("upload/", views.upload, name="upload"),
    path("providers/<str:code>/", views.provider, name="provider"),
    path("alerts/<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("alert-rules/", views.alert_rules, name="alert_rules"),
]
