"""A Proxmox host that may run an agent, and its token."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import cast

import bcrypt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models, transaction
from django.utils import timezone

from hosts import signals

# A DNS label: what a Proxmox node name is.
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def validate_name(name: str) -> None:
    if not name:
        raise ValidationError("A host name must not be empty.")
    if not NAME_PATTERN.match(name):
        raise ValidationError(
            f"{name!r} is not a valid host name: use a DNS label, 1 to 63 letters, "
            "digits and hyphens, not starting or ending with a hyphen."
        )


TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def validate_tags(tags: list[str]) -> None:
    for tag in tags:
        if not TAG_PATTERN.match(tag):
            raise ValidationError(
                f"{tag!r} is not a valid tag: use 1 to 40 lowercase letters, digits, - and _."
            )


def validate_tag_text(text: str) -> None:
    validate_tags(text.lower().split())


def new_token() -> str:
    """32 random bytes, base64url without padding: 43 characters."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    salt = bcrypt.gensalt(settings.PROXMON_TOKEN_BCRYPT_ROUNDS)
    return bcrypt.hashpw(token.encode(), salt).decode()


def token_matches(token: str, token_hash: str) -> bool:
    try:
        return bcrypt.checkpw(token.encode(), token_hash.encode())
    except ValueError:  # not a bcrypt hash (a host without a token)
        return False


@lru_cache(maxsize=4)
def dummy_hash(rounds: int) -> str:
    """Checked when the host is unknown, so a wrong name costs the same time as a wrong token.

    At the cost real tokens are hashed with (PROXMON_TOKEN_BCRYPT_ROUNDS): a cheaper dummy
    would answer faster for names that do not exist and tell which ones do.
    """
    return bcrypt.hashpw(b"no such host", bcrypt.gensalt(rounds)).decode()


class HostQuerySet(models.QuerySet["Host"]):
    def named(self, name: str) -> Host | None:
        """The host of this name as an operator types it (any case, stray spaces), or None."""
        return self.filter(name=name.strip().lower()).first()

    def authenticate(self, name: str, token: str) -> Host | None:
        """The host with this name if the token is its current one; None otherwise.

        Runs bcrypt: call it from a worker thread, never on the event loop. The host is read
        with plain SQL (its id, name and token hash; the other fields load when touched): at a
        restart thousands of agents join at once, and building the ORM's query cost a quarter
        of the process while they did (docs/benchmarks.md, "Agent joins").
        """
        host = None
        if isinstance(name, str):
            with connections[self.db].cursor() as cursor:
                cursor.execute(
                    f"SELECT id, name, token_hash FROM {Host._meta.db_table} WHERE name = %s",
                    [name.lower()],
                )
                row = cursor.fetchone()
            host = Host.from_db(self.db, ["id", "name", "token_hash"], row) if row else None
        if host is None or not host.token_hash:
            token_matches(token, dummy_hash(settings.PROXMON_TOKEN_BCRYPT_ROUNDS))
            return None
        return host if token_matches(token, host.token_hash) else None

    # --- connection state: every change of status, connection_id and server_id is one of these.
    # Each is one UPDATE whose WHERE says when the change still applies, so two processes (or
    # a connection and a sweep) racing for a host cannot leave it half-changed.

    def connect(
        self,
        host_id: int,
        token_hash: str,
        connection_id: uuid.UUID,
        server_id: uuid.UUID,
        now: datetime,
        agent_version: str = "",
    ) -> bool:
        """Online over `connection_id`, held by server process `server_id`; the connection on
        record before (if any) is replaced. False if the token changed since it was checked.

        Plain SQL, as `authenticate` reads: at a restart every agent joins at once, and the
        ORM's update cost more to build than to run (docs/benchmarks.md, "Agent joins")."""
        updates: dict[str, object] = {
            "status": Host.Status.ONLINE,
            "last_seen_at": now,
            "connection_id": connection_id,
            "server_id": server_id,
        }
        if agent_version:
            updates["agent_version"] = agent_version
        connection = connections[self.db]
        assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in updates)
        values = [
            cast(models.Field, Host._meta.get_field(name)).get_db_prep_save(value, connection)
            for name, value in updates.items()
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Host._meta.db_table} SET {assignments} WHERE id = %s AND token_hash = %s",
                [*values, host_id, token_hash],
            )
            return cursor.rowcount == 1

    def reclaim(self, host_id: int, connection_id: uuid.UUID, server_id: uuid.UUID) -> bool:
        """Online again over a live connection that a sweep took offline while its process
        stalled; only if no other connection took the host meanwhile."""
        return (
            self.filter(pk=host_id, connection_id=None).update(
                status=Host.Status.ONLINE, connection_id=connection_id, server_id=server_id
            )
            == 1
        )

    def disconnect(self, host_id: int, connection_id: uuid.UUID) -> bool:
        """Offline, if `connection_id` is still the host's connection (a newer one may have
        replaced it: then nothing changes)."""
        return self.filter(pk=host_id, connection_id=connection_id).update(**OFFLINE) == 1

    def disconnect_server(self, server_id: uuid.UUID) -> int:
        """Offline: every host held by this server process (it shuts down); how many."""
        return self.filter(server_id=server_id).update(**OFFLINE)

    def disconnect_servers_except(self, live: Iterable[uuid.UUID]) -> int:
        """Offline: every online host not held by one of the `live` server processes (its
        process died without cleaning up); how many."""
        return self.filter(status=Host.Status.ONLINE).exclude(server_id__in=live).update(**OFFLINE)

    def delete(self):
        """Delete these hosts with everything derived from them (see Host.delete)."""
        for host_id in self.values_list("pk", flat=True):
            signals.host_deleting.send(Host, host_id=host_id)
        return super().delete()


class Host(models.Model):
    class Status(models.TextChoices):
        NEVER_CONNECTED = "never_connected", "never connected"
        ONLINE = "online", "online"
        OFFLINE = "offline", "offline"

    name = models.CharField(max_length=63, unique=True, validators=[validate_name])
    token_hash = models.CharField(max_length=60, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.NEVER_CONNECTED, editable=False
    )
    agent_version = models.CharField(max_length=64, blank=True, editable=False)
    pve_version = models.CharField("PVE version", max_length=64, blank=True, editable=False)
    zfs_version = models.CharField("ZFS version", max_length=64, blank=True, editable=False)
    kernel = models.CharField(max_length=128, blank=True, editable=False)
    # Seconds the agent's clock is behind the server's (negative: ahead); null until measured.
    clock_skew_s = models.FloatField("clock skew (s)", null=True, blank=True, editable=False)
    # The live agent connection and the server process that holds it; both null when offline.
    # A disconnect only marks the host offline if it is still the connection on record, and
    # hosts held by a dead server process are found by server_id (see metrics.liveness).
    connection_id = models.UUIDField(null=True, blank=True, editable=False)
    server_id = models.UUIDField(null=True, blank=True, editable=False)
    # Labels of the operator's own ("prod ceph-a"), space-separated, lowercase: alert channels
    # may be limited to hosts with a tag, and the overview filters by tag.
    tags = models.CharField(
        max_length=255,
        blank=True,
        default="",
        validators=[validate_tag_text],
        help_text="Space-separated words of letters, digits, - and _, e.g. “prod ceph-a”.",
    )

    objects = HostQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            # liveness sweep: online hosts whose server process is dead.
            models.Index(fields=["status", "server_id"], name="host_status_server"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # The field's validator has checked the name (a DNS label in any case): checking it
        # again here only repeated its message.
        self.name = (self.name or "").strip().lower()
        self.tags = " ".join(dict.fromkeys(self.tags.lower().split()))

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        """Delete the host with everything derived from it; its live agent is disconnected.

        The apps that keep data about hosts (metrics: 100,000s of samples) delete theirs first,
        in chunks, on `host_deleting`; the host row and what cascades from it go last. Returns
        Django's (total, per model) counts, theirs included.
        """
        total, counts = 0, dict[str, int]()
        for _, deleted in signals.host_deleting.send(Host, host_id=self.pk):
            # receivers answer {model label: rows deleted} (django-stubs says str)
            for label, count in cast(dict[str, int], deleted or {}).items():
                counts[label] = counts.get(label, 0) + count
                total += count
        own_total, own_counts = super().delete(*args, **kwargs)
        for label, count in own_counts.items():
            counts[label] = counts.get(label, 0) + count
        return total + own_total, counts

    def issue_token(self) -> str:
        """Give the host a new token and return it; only its hash is stored.

        The caller shows the token once. Saves the host.
        """
        token = new_token()
        self.token_hash = hash_token(token)
        self.save()
        return token

    def revoke_token(self) -> str:
        """Replace the token: the old one fails at once and the live agent is disconnected."""
        token = self.issue_token()
        transaction.on_commit(lambda: signals.token_revoked.send(Host, host_id=self.pk))
        return token

    @property
    def is_online(self) -> bool:
        return self.status == self.Status.ONLINE


# What a host looks like without a live agent connection (HostQuerySet.disconnect*).
OFFLINE = {"status": Host.Status.OFFLINE, "connection_id": None, "server_id": None}
