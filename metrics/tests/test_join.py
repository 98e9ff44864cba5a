"""The agent socket in-process, joining and leaving: the join's close codes, the rate limit,
replacement, revocation and deletion kicks, going offline."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from conftest import AgentCommunicator
from hosts.models import Host
from metrics.tests import frames
from metrics.tests.agents import get_host, joined_pair, send_and_close_code

pytestmark = pytest.mark.django_db(transaction=True)


# --- join -----------------------------------------------------------------------------------


async def test_join_marks_host_online_and_records_agent_version(make_host, connect_agent):
    host, token = await database_sync_to_async(make_host)("pve1")
    agent = AgentCommunicator()
    await agent.connect()
    await agent.send_json_to(frames.join("pve1", token, agent_version="9.9.9"))
    reply = await agent.receive_json_from()
    assert reply["type"] == "joined"
    assert reply["protocol"] == 1 and reply["host"] == "pve1"
    assert reply["server_time"].endswith("Z")
    fresh = await database_sync_to_async(get_host)()
    assert fresh.status == Host.Status.ONLINE
    assert fresh.agent_version == "9.9.9"
    assert fresh.last_seen_at is not None
    await agent.disconnect()


async def test_join_accepts_host_name_in_other_case(make_host, connect_agent):
    _, token = await database_sync_to_async(make_host)("pve1")
    await connect_agent("PVE1", token)


@pytest.mark.parametrize("case", ["unknown host", "wrong token", "revoked token"])
async def test_join_rejections_share_code_4401(make_host, case):
    host, token = await database_sync_to_async(make_host)("pve1")
    name = "pve1"
    if case == "unknown host":
        name = "pve2"
    elif case == "wrong token":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        await database_sync_to_async(host.revoke_token)()
    code, _ = await send_and_close_code(frames.join(name, token))
    assert code == 4401
    fresh = await database_sync_to_async(get_host)()
    assert fresh.status == Host.Status.NEVER_CONNECTED


async def test_no_join_within_deadline_closes_4408(settings):
    settings.PROXMON_JOIN_TIMEOUT_S = 0.2
    agent = AgentCommunicator()
    await agent.connect()
    assert await agent.closed_with(timeout=3) == 4408


async def test_a_join_in_time_is_not_closed_4408_while_its_token_is_checked(settings):
    # A storm of joins can keep the token checks busy past the deadline; the agent did its
    # part by sending the join in time. Here one check (bcrypt cost 13, ~0.5 s) outlasts it.
    settings.PROXMON_JOIN_TIMEOUT_S = 0.1
    settings.PROXMON_TOKEN_BCRYPT_ROUNDS = 13
    host = await database_sync_to_async(Host.objects.create)(name="pve1")
    token = await database_sync_to_async(host.issue_token)()
    agent = AgentCommunicator()
    await agent.connect()
    await agent.send_json_to(frames.join("pve1", token))
    reply = await agent.receive_json_from(timeout=10)
    assert reply["type"] == "joined"
    await agent.disconnect()


async def test_unsupported_protocol_closes_4426_naming_supported_versions(make_host):
    _, token = await database_sync_to_async(make_host)("pve1")
    code, reason = await send_and_close_code(frames.join("pve1", token, protocol=2))
    assert code == 4426
    assert "1" in reason


async def test_failed_joins_from_one_address_are_rate_limited_4429(make_host):
    _, token = await database_sync_to_async(make_host)("pve1")
    for _ in range(5):
        code, _ = await send_and_close_code(
            frames.join("pve1", "wrong"), client=("198.51.100.7", 1)
        )
        assert code == 4401
    # the right token does not help once the address is over its budget
    code, _ = await send_and_close_code(frames.join("pve1", token), client=("198.51.100.7", 1))
    assert code == 4429
    # another address is not affected
    code, _ = await send_and_close_code(frames.join("pve1", "wrong"), client=("198.51.100.8", 1))
    assert code == 4401


async def test_one_failing_host_does_not_lock_out_the_others_behind_its_address(
    make_host, connect_agent
):
    """A host with a stale token behind a NAT address, the others behind it fine."""
    _, good = await database_sync_to_async(make_host)("pve1")
    await database_sync_to_async(make_host)("pve2")
    nat = ("203.0.113.9", 1)
    for _ in range(5):
        code, _ = await send_and_close_code(frames.join("pve2", "stale"), client=nat)
        assert code == 4401
    code, _ = await send_and_close_code(frames.join("pve2", "stale"), client=nat)
    assert code == 4429  # the guesser of one name is cut off ...
    agent = await connect_agent("pve1", good, client=nat)  # ... its neighbour is not
    await agent.disconnect()


async def test_spraying_names_from_one_address_stops_at_the_address_ceiling(
    make_host, connect_agent, settings
):
    settings.PROXMON_JOIN_FAILURES_PER_MINUTE = 2
    settings.PROXMON_JOIN_FAILURES_PER_ADDRESS = 4
    nat = ("203.0.113.10", 1)
    _, known = await database_sync_to_async(make_host)("pve-known")
    _, new = await database_sync_to_async(make_host)("pve-new")
    agent = await connect_agent("pve-known", known, client=nat)  # joined from there before
    await agent.disconnect()
    for name in ("x1", "x1", "x2", "x2"):  # each name within its own limit
        code, _ = await send_and_close_code(frames.join(name, "guess"), client=nat)
        assert code == 4401
    # the address is at its ceiling: a name new to it is refused unchecked, the right token too
    for name, token in (("x3", "guess"), ("pve-new", new)):
        code, _ = await send_and_close_code(frames.join(name, token), client=nat)
        assert code == 4429
    # a host that joined from this address before still gets in with its token
    agent = await connect_agent("pve-known", known, client=nat)
    await agent.disconnect()
    # and elsewhere nothing changed
    agent = await connect_agent("pve-new", new, client=("198.51.100.99", 1))
    await agent.disconnect()


async def test_successful_joins_from_one_address_are_not_limited(make_host, connect_agent):
    """Many hosts behind one NAT address all reconnect after a server restart."""
    tokens = [await database_sync_to_async(make_host)(f"pve{i}") for i in range(8)]
    for i, (_, token) in enumerate(tokens):
        agent = await connect_agent(f"pve{i}", token, client=("203.0.113.1", 1000 + i))
        await agent.disconnect()


async def test_forwarded_address_is_used_only_behind_a_trusted_proxy(make_host, settings):
    settings.PROXMON_TRUSTED_PROXIES = ["127.0.0.1"]
    for _ in range(5):
        agent = AgentCommunicator(
            client=("127.0.0.1", 1), headers=[(b"x-forwarded-for", b"198.51.100.50")]
        )
        await agent.connect()
        await agent.send_json_to(frames.join("pve1", "wrong"))
        assert await agent.closed_with() == 4401
    # the same forwarded client through the proxy is now limited ...
    agent = AgentCommunicator(
        client=("127.0.0.1", 1), headers=[(b"x-forwarded-for", b"198.51.100.50")]
    )
    await agent.connect()
    await agent.send_json_to(frames.join("pve1", "wrong"))
    assert await agent.closed_with() == 4429
    # ... but an untrusted peer cannot pick its address with the header
    agent = AgentCommunicator(
        client=("192.0.2.99", 1), headers=[(b"x-forwarded-for", b"198.51.100.50")]
    )
    await agent.connect()
    await agent.send_json_to(frames.join("pve1", "wrong"))
    assert await agent.closed_with() == 4401


async def test_second_connection_replaces_first_with_4409(make_host, connect_agent):
    host, token, first = await joined_pair(make_host, connect_agent)
    second = await connect_agent("pve1", token)
    assert await first.closed_with() == 4409
    await first.disconnect()
    await asyncio.sleep(0.1)
    fresh = await database_sync_to_async(get_host)()
    assert fresh.status == Host.Status.ONLINE, "the old socket's close must not take it offline"
    await second.send_json_to(frames.sample("fast", 1))
    assert await second.receive_json_from() == {"type": "ack", "seq": 1}


async def test_disconnect_marks_host_offline_at_once(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    await agent.disconnect()
    fresh = await database_sync_to_async(get_host)()
    assert fresh.status == Host.Status.OFFLINE
    assert fresh.connection_id is None


async def test_revoked_token_closes_live_agent_with_4401(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    new_token = await database_sync_to_async(host.revoke_token)()
    assert await agent.closed_with() == 4401
    await agent.disconnect()
    code, _ = await send_and_close_code(frames.join("pve1", token))
    assert code == 4401
    await connect_agent("pve1", new_token)


async def test_revocation_from_another_process_is_noticed_by_the_connection_check(
    make_host, connect_agent, settings
):
    """A shell's revoke_token cannot reach an in-memory channel layer; the DB check can."""
    settings.PROXMON_CONNECTION_CHECK_S = 0.2
    host, token, agent = await joined_pair(make_host, connect_agent)

    def revoke_behind_its_back():
        Host.objects.filter(pk=host.pk).update(token_hash="$2b$04$" + "x" * 53)

    await database_sync_to_async(revoke_behind_its_back)()
    assert await agent.closed_with(timeout=3) == 4401


async def test_a_kick_row_from_another_process_closes_the_agent_before_the_full_check(
    make_host, connect_agent, settings
):
    """revoke_token in a shell on the in-memory layer: no channel message reaches us, its
    Kick row does, within PROXMON_KICK_POLL_S, long before the 20 s connection check."""
    from metrics.models import Kick

    settings.PROXMON_CONNECTION_CHECK_S = 20
    settings.PROXMON_KICK_POLL_S = 0.1
    host, token, agent = await joined_pair(make_host, connect_agent)
    _, other_token, other = await joined_pair(make_host, connect_agent, name="pve2")

    def revoke_in_another_process():
        Host.objects.filter(pk=host.pk).update(token_hash="$2b$04$" + "x" * 53)
        Kick.objects.create(host_id=host.pk)

    await database_sync_to_async(revoke_in_another_process)()
    assert await agent.closed_with(timeout=3) == 4401
    await other.send_json_to(frames.sample("fast", 1))
    assert await other.receive_json_from() == {"type": "ack", "seq": 1}


async def test_a_kick_for_a_host_whose_token_still_matches_closes_nothing(
    make_host, connect_agent, settings
):
    """Kicks are re-judged against the host row: an agent already using the new token stays."""
    from metrics.connection_watch import checker
    from metrics.models import Kick

    settings.PROXMON_CONNECTION_CHECK_S = 20
    settings.PROXMON_KICK_POLL_S = 0.05
    host, token, agent = await joined_pair(make_host, connect_agent)
    await database_sync_to_async(Kick.objects.create)(host_id=host.pk)
    while checker().kick_rounds < 1:  # the poll has found the kick and judged the connection
        await asyncio.sleep(0.05)
    await agent.send_json_to(frames.sample("fast", 1))
    assert await agent.receive_json_from() == {"type": "ack", "seq": 1}


async def test_deleting_a_host_closes_its_agent(make_host, connect_agent):
    host, token, agent = await joined_pair(make_host, connect_agent)
    await database_sync_to_async(host.delete)()
    assert await agent.closed_with() == 4401
