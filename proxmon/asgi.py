"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Agents send no Origin header and authenticate in their first frame (docs/protocol.md), so the
agent socket is not wrapped in AllowedHostsOriginValidator; the browsers' socket is, and needs
a logged-in session.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxmon.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from dashboard.consumers import DashboardConsumer  # noqa: E402
from metrics.routing import websocket_urlpatterns as agent_sockets  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                *agent_sockets,
                path(
                    "ws/dashboard",
                    AllowedHostsOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi())),
                ),
            ]
        ),
    }
)
