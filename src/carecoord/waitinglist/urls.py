from django.urls import path

from carecoord.waitinglist import report_views, views

app_name = "waitinglist"

urlpatterns = [
    path("", views.ptl, name="ptl"),
    path("export.<str:fmt>", views.ptl_export, name="ptl_export"),
    path("views/", views.save_view, name="save_view"),
    path("views/<int:pk>/delete/", views.delete_view, name="delete_view"),
    path("pathways/<int:pk>/", views.pathway_detail, name="pathway"),
    path("pathways/<int:pk>/priority/", views.set_priority, name="set_priority"),
    path("pathways/<int:pk>/tci/", views.record_tci, name="record_tci"),
    path("pathways/<int:pk>/notes/", views.add_note, name="add_note"),
    path("pathways/<int:pk>/remove/", views.remove, name="remove"),
    path("reports/rtt/", report_views.rtt_report, name="rtt_report"),
    path("reports/rtt.csv", report_views.rtt_report_csv, name="rtt_report_csv"),
]
