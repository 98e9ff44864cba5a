"""The alert rows of a host: read into the state machine's terms (alerts.evaluation), and
what an evaluation changed written back, with the transitions and the messages to the
channels that want them (the outbox, alerts.models.Delivery), in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from alerts import messages
from alerts.evaluation import AlertState, Outcome
from alerts.models import Alert, Channel, Delivery, Transition
from hosts.models import Host
from metrics.protocol import parse_time
from metrics.rawsql import column, execute_many, prep
from metrics.summary import rfc3339

STATE_FIELDS = [
    "state",
    "level",
    "text",
    "detail",
    "since",
    "fired_at",
    "resolved_at",
    "notified",
    "last_sent_at",
    "acked_at",
    "flapping",
    "clear_since",
]

UPDATED_FIELDS = [*STATE_FIELDS, "changes", "updated_at"]
UPDATE_ALERT = (
    f"UPDATE {Alert._meta.db_table} SET "
    + ", ".join(f"{column(Alert, name)} = %s" for name in UPDATED_FIELDS)
    + " WHERE id = %s"
)
TRANSITION_FIELDS = ["alert", "host", "at", "kind", "state", "level", "text"]
INSERT_TRANSITION = (
    f"INSERT INTO {Transition._meta.db_table}"
    f" ({', '.join(column(Transition, name) for name in TRANSITION_FIELDS)})"
    f" VALUES ({', '.join(['%s'] * len(TRANSITION_FIELDS))})"
)


def state_of(row: Alert) -> AlertState:
    return AlertState(
        rule=row.rule,
        subject=row.subject,
        changes=[parse_time(at, "changes") for at in row.changes],
        **{name: getattr(row, name) for name in STATE_FIELDS},
    )


def write(host: Host, rows: dict, outcome: Outcome, now: datetime) -> None:
    write_many([(host, rows, outcome, now)])


def write_many(writes: list[tuple[Host, dict, Outcome, datetime]]) -> None:
    """What changed for these hosts: alerts (the new ones in one insert for all, the changed
    ones in one statement), their transitions (one statement) and the messages. `rows` (each
    host's alerts by key) gains the new alerts. At a restart of 5,000 agents many hosts' first
    evaluations write at once."""
    new: list[Alert] = []
    updates: list[list] = []
    for host, rows, outcome, now in writes:
        for key in outcome.changed:
            state = outcome.alerts[key]
            values = {name: getattr(state, name) for name in STATE_FIELDS}  # UPDATED_FIELDS' order
            values["changes"] = [rfc3339(at) for at in state.changes]
            values["updated_at"] = now
            row = rows.get(key)
            if row is None:
                new.append(Alert(host_id=host.pk, rule=key[0], subject=key[1], **values))
            else:
                updates.append([*prep(Alert, **values), row.pk])
    # The updates and transitions as plain SQL, many rows a statement: through the ORM, a
    # query built for each row was 7 % of the process at the start of 5,000 agents (their
    # hosts' offline alerts resolve at once; docs/benchmarks.md).
    if updates:
        execute_many(UPDATE_ALERT, updates)
    by_host = {host.pk: rows for host, rows, _, _ in writes}
    for alert in Alert.objects.bulk_create(new):
        by_host[alert.host_id][alert.rule, alert.subject] = alert
    transitions = [
        prep(  # in TRANSITION_FIELDS' order
            Transition,
            alert=rows[change.alert.key].pk,
            host=host.pk,
            at=now,
            kind=change.kind,
            state=change.alert.state,
            level=change.alert.level,
            text=change.alert.text[:255],
        )
        for host, rows, outcome, now in writes
        for change in outcome.changes
    ]
    if transitions:
        execute_many(INSERT_TRANSITION, transitions)
    for host, _, outcome, now in writes:
        if outcome.items:
            _queue(host, outcome, now)


def _queue(host: Host, outcome: Outcome, now: datetime) -> None:
    link = f"{settings.PROXMON_PUBLIC_URL}/hosts/{host.name}/"
    deliveries = []
    for channel in Channel.objects.filter(enabled=True):
        items = messages.for_channel(outcome.items, channel.min_level)
        if items and channel.wants(host.tag_list):
            title, body = messages.compose(host.name, items, now, link)
            deliveries.append(
                Delivery(
                    channel=channel,
                    host_id=host.pk,
                    title=title,
                    body=body,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    Delivery.objects.bulk_create(deliveries)
    if deliveries:
        from alerts import background

        transaction.on_commit(background.wake)
