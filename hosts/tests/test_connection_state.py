"""A host's connection state (status, connection, server process) changes only through the
HostQuerySet methods, each one UPDATE that applies only while its condition holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from hosts.models import Host

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SERVER_A, SERVER_B = uuid.uuid4(), uuid.uuid4()


def state(host: Host) -> tuple[str, uuid.UUID | None, uuid.UUID | None]:
    host.refresh_from_db()
    return host.status, host.connection_id, host.server_id


@pytest.fixture
def host(make_host) -> Host:
    return make_host("pve1")[0]


def test_connect_puts_the_host_online_over_this_connection(host):
    connection = uuid.uuid4()
    assert Host.objects.connect(host.pk, host.token_hash, connection, SERVER_A, NOW, "0.2.0")
    assert state(host) == (Host.Status.ONLINE, connection, SERVER_A)
    assert (host.last_seen_at, host.agent_version) == (NOW, "0.2.0")


def test_connect_without_a_version_keeps_the_known_one(host):
    Host.objects.connect(host.pk, host.token_hash, uuid.uuid4(), SERVER_A, NOW, "0.2.0")
    Host.objects.connect(host.pk, host.token_hash, uuid.uuid4(), SERVER_A, NOW)
    host.refresh_from_db()
    assert host.agent_version == "0.2.0"


def test_connect_with_a_token_revoked_meanwhile_changes_nothing(host):
    old_hash = host.token_hash
    host.revoke_token()
    assert not Host.objects.connect(host.pk, old_hash, uuid.uuid4(), SERVER_A, NOW)
    assert state(host) == (Host.Status.NEVER_CONNECTED, None, None)


def test_a_newer_connection_replaces_the_old_and_the_old_one_leaving_changes_nothing(host):
    old, new = uuid.uuid4(), uuid.uuid4()
    Host.objects.connect(host.pk, host.token_hash, old, SERVER_A, NOW)
    Host.objects.connect(host.pk, host.token_hash, new, SERVER_B, NOW)
    assert not Host.objects.disconnect(host.pk, old)
    assert state(host) == (Host.Status.ONLINE, new, SERVER_B)
    assert Host.objects.disconnect(host.pk, new)
    assert state(host) == (Host.Status.OFFLINE, None, None)


def test_reclaim_takes_back_a_host_swept_offline_but_not_one_taken_by_another(make_host):
    swept, taken = make_host("pve1")[0], make_host("pve2")[0]
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    for h in (swept, taken):
        Host.objects.connect(h.pk, h.token_hash, mine, SERVER_A, NOW)
    assert Host.objects.disconnect_servers_except([SERVER_B]) == 2  # A stalled: swept
    Host.objects.connect(taken.pk, taken.token_hash, theirs, SERVER_B, NOW)
    assert Host.objects.reclaim(swept.pk, mine, SERVER_A)
    assert not Host.objects.reclaim(taken.pk, mine, SERVER_A)
    assert state(swept) == (Host.Status.ONLINE, mine, SERVER_A)
    assert state(taken) == (Host.Status.ONLINE, theirs, SERVER_B)


def test_disconnect_server_takes_only_that_process_hosts_offline(make_host):
    a, b = make_host("pve1")[0], make_host("pve2")[0]
    Host.objects.connect(a.pk, a.token_hash, uuid.uuid4(), SERVER_A, NOW)
    connection_b = uuid.uuid4()
    Host.objects.connect(b.pk, b.token_hash, connection_b, SERVER_B, NOW)
    assert Host.objects.disconnect_server(SERVER_A) == 1
    assert state(a) == (Host.Status.OFFLINE, None, None)
    assert state(b) == (Host.Status.ONLINE, connection_b, SERVER_B)


def test_disconnect_servers_except_leaves_live_processes_and_offline_hosts(make_host):
    live, dead, never = (make_host(name)[0] for name in ("pve1", "pve2", "pve3"))
    Host.objects.connect(live.pk, live.token_hash, uuid.uuid4(), SERVER_A, NOW)
    Host.objects.connect(dead.pk, dead.token_hash, uuid.uuid4(), SERVER_B, NOW)
    assert Host.objects.disconnect_servers_except([SERVER_A]) == 1
    assert state(live)[0] == Host.Status.ONLINE
    assert state(dead) == (Host.Status.OFFLINE, None, None)
    assert state(never) == (Host.Status.NEVER_CONNECTED, None, None)
    assert Host.objects.disconnect_servers_except([]) == 1  # no live process at all


def test_only_the_queryset_changes_connection_state():
    """No app module outside hosts/models.py writes status, connection_id or server_id."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    fields = {"status", "connection_id", "server_id"}
    offenders = []
    for app in ("hosts", "metrics", "alerts", "dashboard", "proxmon"):
        for path in (root / app).rglob("*.py"):
            relative = path.relative_to(root).as_posix()
            if "/tests/" in relative or "/migrations/" in relative or relative == "hosts/models.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"update", "bulk_update"}
                    and fields & {kw.arg for kw in node.keywords}
                    and "Host" in ast.unparse(node.func.value)
                ):
                    offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
