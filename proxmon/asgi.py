"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Agents send no Origin header and authenticate in their first frame (docs/protocol.md), so the
agent socket is not wrapped in AllowedHostsOriginValidator; the browsers' socket is, and needs
a logged-in session. A WebSocket to any other path is refused before the handshake completes
(daphne answers HTTP 403) with one log line: an agent configured with a wrong URL retries
forever, and Channels' own answer was HTTP 500 and a traceback per attempt.
"""

import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxmon.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from dashboard.consumers import DashboardConsumer  # noqa: E402
from metrics.limits import client_address  # noqa: E402
from metrics.routing import websocket_urlpatterns as agent_sockets  # noqa: E402

log = logging.getLogger("proxmon.sockets")


async def refuse_unknown_path(scope, receive, send) -> None:
    """No socket here: close before accepting (daphne: HTTP 403), say so in one line."""
    await receive()  # websocket.connect
    log.warning(
        "WebSocket to unknown path %r from %s refused (sockets: /ws/agent, /ws/dashboard)",
        scope["path"][:200],
        client_address(scope),
    )
    await send({"type": "websocket.close", "code": 1008})


class SocketRouter(URLRouter):
    async def __call__(self, scope, receive, send):
        # A root path the request's path lies outside of (a `Daphne-Root-Path` header) is a
        # ValueError in URLRouter: refused like any other unknown path.
        if not scope["path"].startswith(scope.get("root_path", "")):
            return await refuse_unknown_path(scope, receive, send)
        return await super().__call__(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SocketRouter(
            [
                *agent_sockets,
                path(
                    "ws/dashboard",
                    AllowedHostsOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi())),
                ),
                # matches what nothing above matched (an ASGI app: django-stubs types views)
                re_path(r"", refuse_unknown_path),  # type: ignore[arg-type]
            ]
        ),
    }
)
