"""A hostile registered agent against a real server: what the protocol accepts is stored and
every page still renders; what it does not (a megabyte name) is nacked and stored nowhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.tests.test_hostile import CYCLE, chain, with_raw
from dashboard.tests.test_login_limits import Browser
from metrics.tests import frames
from metrics.tests.test_e2e import join

pytestmark = pytest.mark.e2e

PASSWORD = "operator-password-1"


def moment(seconds_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_hostile_agent_cannot_break_pages_of_a_real_server(live_server_factory):
    server = live_server_factory()
    server.manage(
        "shell",
        "-v0",
        "-c",
        f"from django.contrib.auth.models import User; User.objects.create_user('op', '', "
        f"'{PASSWORD}')",
    )
    server.start()
    token = server.add_host("pve1")
    ws = await join(server, "pve1", token)

    bidi = with_raw(chain(3000))  # 3,000 vdevs, each the parent of the next
    bidi["zfs_pools"]["pools"][0]["name"] = "rp\u202eool"
    bidi["guests"][0]["name"] = "we\u0000b\u2066"
    huge = with_raw(CYCLE)
    huge["zfs_pools"]["pools"][0]["name"] = "x" * 1_000_000
    replies = []
    for seq, (data, ago) in enumerate([(with_raw(CYCLE), 90), (huge, 60), (bidi, 30)], start=1):
        await ws.send(json.dumps(frames.sample("fast", seq, moment(ago), data=data)))
        replies.append(json.loads(await ws.recv()))
    assert replies[0] == {"type": "ack", "seq": 1} and replies[2] == {"type": "ack", "seq": 3}
    assert replies[1]["type"] == "nack"
    assert replies[1]["error"].startswith("data.zfs_pools.pools[0].name: expected at most 255")

    browser = Browser(server.http_url)
    assert browser.post_login("/login/", "op", PASSWORD) == 302
    pages = {}
    for path in ("/", "/hosts/pve1/", "/vms/?q=web"):
        with browser.opener.open(server.http_url + path) as response:
            assert response.status == 200, path
            pages[path] = response.read().decode()
        assert "\u202e" not in pages[path] and "\u2066" not in pages[path], path
        assert "\x00" not in pages[path], path
    assert ">rpool" in pages["/hosts/pve1/"] and "x" * 1000 not in pages["/hosts/pve1/"]
    assert ">web<" in pages["/vms/?q=web"]  # the guest is found, its name cleaned
    await ws.close()
