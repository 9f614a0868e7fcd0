from django.urls import path

from carecoord.theatres import views

app_name = "theatres"

urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("sessions/<int:pk>/", views.session_detail, name="session"),
    path("sessions/<int:pk>/book/", views.book, name="book"),
]
