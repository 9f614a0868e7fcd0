from django.urls import include, path

from carecoord.validation import views

app_name = "validation"

urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("findings.csv", views.worklist_csv, name="worklist_csv"),
    path("run/", views.run_now, name="run"),
    path("tasks/", views.task_list, name="tasks"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("pathways/<int:pk>/", views.pathway_validation, name="pathway"),
    path("digital/", include("carecoord.validation.digital_urls")),
]
