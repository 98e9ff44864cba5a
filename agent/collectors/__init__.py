"""The agent's data sources, one module per source.

`COLLECTORS` is the explicit list the agent runs, in this order within a tier; a module is
collected because it is named here, never because importing it registered itself. Every module
has `SOURCE` (its key in the sample's `data`), `TIER` ("fast", "medium" or "slow") and
`collect(machine) -> data`.
"""

from __future__ import annotations

from agent.collectors import (
    backups,
    datasets,
    disks,
    guest_configs,
    guests,
    host,
    replication,
    storage,
    system,
    zfs_pools,
)

COLLECTORS = (
    # fast
    host,
    storage,
    zfs_pools,
    guests,
    # medium
    datasets,
    guest_configs,
    backups,
    replication,
    # slow
    system,
    disks,
)

TIERS = ("fast", "medium", "slow")
