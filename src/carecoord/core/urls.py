from django.urls import path

from carecoord.core import oidc, views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("auth/login/", views.login_view, name="login"),
    path("auth/logout/", views.logout_view, name="logout"),
    path("auth/personas/", views.personas_view, name="personas"),
    path("auth/oidc/login/", oidc.login, name="oidc_login"),
    path("auth/oidc/callback/", oidc.callback, name="oidc_callback"),
    path("auth/oidc/jwks/", oidc.jwks, name="oidc_jwks"),
    path("organisation/switch/", views.switch_organisation, name="switch_organisation"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("patients/<int:pk>/", views.patient_detail, name="patient_detail"),
]
