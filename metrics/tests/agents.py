"""Helpers of the agent socket's in-process tests (test_join.py, test_consumer.py)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from conftest import AgentCommunicator
from hosts.models import Host


def get_host(name="pve1") -> Host:
    return Host.objects.get(name=name)


async def joined_pair(make_host, connect_agent, name="pve1"):
    host, token = await database_sync_to_async(make_host)(name)
    agent = await connect_agent(name, token)
    return host, token, agent


async def send_and_close_code(frame, client=("192.0.2.20", 1)) -> tuple[int, str]:
    agent = AgentCommunicator(client=client)
    await agent.connect()
    if isinstance(frame, bytes):
        await agent.send_to(bytes_data=frame)
    elif isinstance(frame, str):
        await agent.send_to(text_data=frame)
    else:
        await agent.send_json_to(frame)
    code = await agent.closed_with()
    return code, agent.close_reason
