"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Agents send no Origin header and authenticate in their first frame (docs/protocol.md), so the
agent socket is not wrapped in AllowedHostsOriginValidator; browser sockets will be.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxmon.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from metrics.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
