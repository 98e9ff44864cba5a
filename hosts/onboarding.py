"""The install steps shown with a new token: agent.toml for this server, systemd commands."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

AGENT_PATH = "/ws/agent"


def agent_url(request: HttpRequest | None = None) -> str:
    """The WebSocket URL agents dial, from PROXMON_PUBLIC_URL or the request."""
    base = settings.PROXMON_PUBLIC_URL
    if not base and request is not None:
        base = f"{request.scheme}://{request.get_host()}"
    if not base:
        base = "https://monitor.example.com"
    scheme, _, rest = base.partition("://")
    # PROXMON_PUBLIC_URL may name the web address (https) or the agents' one (wss) itself
    ws_scheme = "wss" if scheme in ("https", "wss") else "ws"
    return f"{ws_scheme}://{rest}{AGENT_PATH}"


def agent_config(url: str, host: str, token: str) -> str:
    lines = [
        f'server_url = "{url}"',
        f'token = "{token}"',
        f'host = "{host}"',
    ]
    if url.startswith("ws://"):
        lines.append("# plain ws:// to a non-loopback server needs this; prefer wss:// via Caddy")
        lines.append("allow_insecure = true")
    return "\n".join(lines) + "\n"


def install_steps(url: str, host: str, token: str) -> str:
    """Shell commands, run as root on the Proxmox host, that install and start the agent."""
    return (
        "# on the Proxmox host, as root, with proxmon-agent and proxmon-agent.service\n"
        "# (built on the proxmon server with scripts/build-agent) in the current directory:\n"
        "install -m 0755 proxmon-agent /usr/local/bin/proxmon-agent\n"
        "install -d -m 0700 /etc/proxmon\n"
        "umask 077\n"
        "cat > /etc/proxmon/agent.toml <<'EOF'\n"
        f"{agent_config(url, host, token)}"
        "EOF\n"
        "chmod 0600 /etc/proxmon/agent.toml\n"
        "install -m 0644 proxmon-agent.service /etc/systemd/system/proxmon-agent.service\n"
        "systemctl daemon-reload\n"
        "systemctl enable --now proxmon-agent\n"
        "journalctl -u proxmon-agent -f   # expect: joined as " + host + "\n"
    )
