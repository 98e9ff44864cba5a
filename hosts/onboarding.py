"""The one copy-paste block that installs the agent on a Proxmox host, shown with a new token
in the admin (adding a host, revoking its token) and printed by `manage.py add_host`
(`revoke_token` prints only the new token).

The block downloads the agent binary and unit this server serves (hosts/downloads.py), checks
them with `sha256sum -c`, writes /etc/proxmon/agent.toml (mode 0600) with the token, installs
the unit and (re)starts the service. The token reaches the host only inside the pasted text:
a heredoc read by `bash` from its standard input, written under `umask 077`, never in a URL,
an argument list or the environment.

With `DESTDIR` set in the environment, every file goes under that folder and systemd is left
alone: the staged install of packaging conventions, and how the tests run the block for real.
"""

from __future__ import annotations

import shlex

from django.conf import settings
from django.http import HttpRequest

AGENT_PATH = "/ws/agent"
PLACEHOLDER = "https://monitor.example.com"


def _base(request: HttpRequest | None) -> str:
    base = settings.PROXMON_PUBLIC_URL
    if not base and request is not None:
        base = f"{request.scheme}://{request.get_host()}"
    return base or PLACEHOLDER


def agent_url(request: HttpRequest | None = None) -> str:
    """The WebSocket URL agents dial, from PROXMON_PUBLIC_URL or the request."""
    scheme, _, rest = _base(request).partition("://")
    # PROXMON_PUBLIC_URL may name the web address (https) or the agents' one (wss) itself
    ws_scheme = "wss" if scheme in ("https", "wss") else "ws"
    return f"{ws_scheme}://{rest}{AGENT_PATH}"


def web_url(request: HttpRequest | None = None) -> str:
    """The server's web address, where a host downloads the agent (no trailing slash)."""
    scheme, _, rest = _base(request).partition("://")
    return f"{'https' if scheme in ('https', 'wss') else 'http'}://{rest}"


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


def install_block(web: str, url: str, host: str, token: str) -> str:
    """Shell text to paste into a root shell on the Proxmox host `host` (module docstring)."""
    return (
        f"# Installs the proxmon agent on {host}: paste into a root shell on that Proxmox host.\n"
        "bash -eu <<'PROXMON_INSTALL'\n"
        "umask 077\n"
        f"server={shlex.quote(web + '/agent')}\n"
        'root="${DESTDIR:-}"\n'
        'work=$(mktemp -d) && trap \'rm -rf "$work"\' EXIT && cd "$work"\n'
        "for file in proxmon-agent proxmon-agent.service SHA256SUMS; do\n"
        '  curl -fsS -o "$file" "$server/$file"\n'
        "done\n"
        "sha256sum -c SHA256SUMS\n"
        "cat > agent.toml <<'EOF'\n"
        f"{agent_config(url, host, token)}"
        "EOF\n"
        'install -D -m 0755 proxmon-agent "$root/usr/local/bin/proxmon-agent"\n'
        "install -D -m 0644 proxmon-agent.service \\\n"
        '  "$root/etc/systemd/system/proxmon-agent.service"\n'
        'install -d -m 0700 "$root/etc/proxmon"\n'
        'install -m 0600 agent.toml "$root/etc/proxmon/agent.toml"\n'
        'if [ -z "$root" ]; then\n'
        "  systemctl daemon-reload\n"
        "  systemctl enable proxmon-agent\n"
        "  systemctl restart proxmon-agent\n"
        f'  echo "proxmon-agent started: journalctl -u proxmon-agent says \\"joined as {host}\\""\n'
        "fi\n"
        "PROXMON_INSTALL\n"
    )
