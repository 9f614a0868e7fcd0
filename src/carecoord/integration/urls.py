from django.urls import path

from carecoord.integration import views

app_name = "integration"

urlpatterns = [
    path("", views.imports, name="imports"),
    path("<int:pk>/", views.report, name="report"),
    path("<int:pk>/rejections.csv", views.report_csv, name="report_csv"),
    path("profiles/", views.profiles, name="profiles"),
    path("profiles/new/", views.profile_create, name="profile_create"),
    path("profiles/<int:pk>/", views.profile_edit, name="profile_edit"),
]
