from django.urls import path

from alerts import views

urlpatterns = [
    path("", views.alerts, name="alerts"),
    path("<int:pk>/ack/", views.ack, name="alert-ack"),
    path("silences/", views.silence, name="alert-silence"),
    path("silences/<int:pk>/end/", views.end_silence, name="alert-silence-end"),
    path("channels/<str:name>/", views.channel_log, name="alert-channel"),
]
