from django.urls import path

from carecoord.escalation import views

app_name = "escalation"

urlpatterns = [
    path("", views.log, name="log"),
    path("actions/<int:pk>/", views.act, name="act"),
    path("sitrep/", views.sitrep, name="sitrep"),
    path("handover/", views.handover, name="handover"),
    path("mutual-aid/", views.mutual_aid_list, name="mutual_aid"),
    path("mutual-aid/<int:pk>/", views.mutual_aid_step, name="mutual_aid_step"),
    path("sitrep.pdf", views.sitrep_pdf, name="sitrep_pdf"),
    path("rota/", views.rota, name="rota"),
]
