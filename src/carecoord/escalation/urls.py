from django.urls import path

from carecoord.escalation import views

app_name = "escalation"

urlpatterns = [
    path("", views.log, name="log"),
    path("actions/<int:pk>/", views.act, name="act"),
    path("sitrep/", views.sitrep, name="sitrep"),
    path("sitrep.pdf", views.sitrep_pdf, name="sitrep_pdf"),
]
