"""What a Proxmox host downloads in the one-line install: the agent binary this server ships
with, its systemd unit, and their SHA-256 sums.

Public (no login): the binary and the unit hold no secret, and the host that fetches them has
no account. The token never travels this way; the install block writes it from a heredoc.

    /agent/proxmon-agent            settings.PROXMON_AGENT_BINARY (scripts/build-agent makes it)
    /agent/proxmon-agent.service    deploy/proxmon-agent.service
    /agent/SHA256SUMS               both sums, in the format `sha256sum -c` reads

The sums are computed when a file changed (its size or modification time), not per request.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotFound
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

BINARY_NAME = "proxmon-agent"
UNIT_NAME = "proxmon-agent.service"
SUMS_NAME = "SHA256SUMS"
NOT_BUILT = (
    "No agent binary is built on this proxmon server yet ({path} is not a file).\n"
    "On the server, in the proxmon folder, run:\n"
    "\n"
    "    scripts/build-agent\n"
    "\n"
    "(it makes dist/proxmon-agent), or set PROXMON_AGENT_BINARY to the binary's path and "
    "restart proxmon. Then run the install block again.\n"
)

_lock = threading.Lock()
_sums: dict[Path, tuple[tuple[int, int], str]] = {}  # path -> ((size, mtime_ns), hex digest)


def binary_path() -> Path:
    return Path(settings.PROXMON_AGENT_BINARY)


def unit_path() -> Path:
    return Path(settings.BASE_DIR) / "deploy" / UNIT_NAME


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file, remembered until its size or modification time changes.
    Raises FileNotFoundError."""
    stat = path.stat()
    version = (stat.st_size, stat.st_mtime_ns)
    with _lock:
        known = _sums.get(path)
        if known is not None and known[0] == version:
            return known[1]
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    with _lock:
        _sums[path] = (version, digest.hexdigest())
    return digest.hexdigest()


def binary_sha256() -> str | None:
    """The binary's sum, or None while none is built."""
    try:
        return sha256(binary_path())
    except (FileNotFoundError, IsADirectoryError):
        return None


def _not_built() -> HttpResponse:
    return HttpResponseNotFound(
        NOT_BUILT.format(path=binary_path()), content_type="text/plain; charset=utf-8"
    )


@require_safe
def binary(request: HttpRequest) -> HttpResponseBase:
    try:
        file = open(binary_path(), "rb")  # noqa: SIM115 (FileResponse closes it)
    except (FileNotFoundError, IsADirectoryError):
        return _not_built()
    return FileResponse(
        file, as_attachment=True, filename=BINARY_NAME, content_type="application/octet-stream"
    )


@require_safe
def unit(request: HttpRequest) -> HttpResponse:
    return HttpResponse(unit_path().read_bytes(), content_type="text/plain; charset=utf-8")


@require_safe
def sums(request: HttpRequest) -> HttpResponse:
    digest = binary_sha256()
    if digest is None:
        return _not_built()
    text = f"{digest}  {BINARY_NAME}\n{sha256(unit_path())}  {UNIT_NAME}\n"
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
