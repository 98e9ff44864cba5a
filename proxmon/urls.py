from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import drift_page, protection, series, views

admin.site.site_header = "proxmon administration"
admin.site.site_title = "proxmon"
admin.site.site_url = "/"

urlpatterns = [
    # the admin's own login view, under the login limit of /login/ (one limiter for both)
    path("admin/login/", views.limit_failed_logins(admin.site.login)),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("hosts/<str:name>/", views.host_detail, name="host"),
    path("hosts/<str:name>/metrics.json", views.host_metrics, name="host-metrics"),
    path("hosts/<str:name>/series.json", series.host_series, name="host-series"),
    path("vms/", views.vms, name="vms"),
    path("backups/", protection.fleet, name="backups"),
    path("drift/", drift_page.fleet_drift, name="drift"),
    path("alerts/", include("alerts.urls")),
    path("agent/", include("hosts.urls")),  # public: the one-line install's downloads
]
