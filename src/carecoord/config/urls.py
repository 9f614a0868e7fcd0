from django.contrib import admin
from django.urls import include, path

from carecoord.api import api

handler403 = "carecoord.core.views.error_403"
handler404 = "carecoord.core.views.error_404"
handler500 = "carecoord.core.views.error_500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("waiting-list/", include("carecoord.waitinglist.urls")),
    path("imports/", include("carecoord.integration.urls")),
    path("validation/", include("carecoord.validation.urls")),
    path("p/", include("carecoord.validation.patient_urls")),
    path("theatres/", include("carecoord.theatres.urls")),
    path("coordination/escalation/", include("carecoord.escalation.urls")),
    path("coordination/", include("carecoord.coordination.urls")),
    path("", include("carecoord.core.urls")),
]
