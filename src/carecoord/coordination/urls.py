from django.urls import path

from carecoord.coordination import views

app_name = "coordination"

urlpatterns = [
    path("", views.board, name="board"),
    path("providers/<str:code>/", views.provider, name="provider"),
]
