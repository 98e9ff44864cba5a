from django.urls import path

from metrics.consumers import AgentConsumer

websocket_urlpatterns = [
    path("ws/agent", AgentConsumer.as_asgi()),
]
