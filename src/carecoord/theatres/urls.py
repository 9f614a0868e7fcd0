from django.urls import path

from carecoord.theatres import views

app_name = "theatres"

urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("generate/", views.generate, name="generate"),
    path("sessions/<int:pk>/", views.session_detail, name="session"),
    path("sessions/<int:pk>/book/", views.book, name="book"),
    path("sessions/<int:pk>/status/", views.session_status, name="session_status"),
    path("bookings/<int:pk>/move/", views.booking_move, name="booking_move"),
    path("bookings/<int:pk>/confirm/", views.booking_confirm, name="booking_confirm"),
    path("bookings/<int:pk>/cancel/", views.booking_cancel, name="booking_cancel"),
    path("bookings/<int:pk>/letter.pdf", views.booking_letter, name="booking_letter"),
    path("plan/", views.plan, name="plan"),
    path("plans/<int:pk>/", views.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/decide/", views.plan_decide, name="plan_decide"),
    path("book/<int:pathway_id>/", views.book_pathway, name="book_pathway"),
    path("metrics/", views.metrics, name="metrics"),
    path("leave/", views.leave, name="leave"),
]
