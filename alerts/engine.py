"""Evaluating a host's alerts against the database: at ingest and in the periodic sweep.

`evaluate_host(host_id, now)` reads the host, its facts, alerts and silences, runs the pure
state machine (alerts.evaluation) and writes (alerts.rows), in the caller's transaction, the
alerts that changed, their transitions and the host's message to each channel that wants it
(the outbox, alerts.models.Delivery). The transition and its notification commit together or
not at all.

At ingest (`on_facts_changed`, in the sample's transaction) the host is evaluated only when
what holds changed (Observation.signature): a sample like the one before costs no query. In a
batch of the writer, a host to be evaluated (one whose conditions changed, or one this process
has not evaluated yet: after a restart, every host) is evaluated at the end of the batch,
together with the batch's other such hosts (`_evaluate_batch`), still in the samples'
transaction. Everything that time alone changes (delays, offline, stale data,
ages) is the sweep's, every PROXMON_ALERT_SWEEP_S, paced so that it takes at most a quarter of
the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.evaluation import FIRING, PENDING, Outcome, evaluate
from alerts.models import Alert, Delivery, Silence, Transition
from alerts.rows import state_of, write, write_many
from alerts.rules import HYSTERESIS_RULES, Config, Observation, observe
from hosts.models import Host
from metrics import signals
from metrics.forecast import with_forecast
from metrics.models import Forecast, HostSummary
from metrics.status import Thresholds

log = logging.getLogger(__name__)

# Hosts read per query: ~5 ms of JSON for their facts, held in one go.
SWEEP_CHUNK = 100
HOST_FIELDS = ("name", "status", "last_seen_at", "clock_skew_s", "tags")

# host id -> the signature of its last evaluation in this process (see on_facts_changed)
_signatures: dict[int, tuple] = {}
# host id -> (status, clock skew, keys held by hysteresis) as that evaluation left them
_hosts: dict[int, tuple[str, float | None, frozenset]] = {}


def evaluate_host(host_id: int, now: datetime | None = None, facts: dict | None = None) -> Outcome:
    """Evaluate one host and write what changed; call inside a transaction."""
    now = now or timezone.now()
    # Serialises evaluations of one host across processes (PostgreSQL; SQLite's writes are
    # serial anyway). Ingest holds this lock already: its UPDATE of the host row took it.
    host = Host.objects.select_for_update().filter(pk=host_id).first()
    if host is None:
        return Outcome({}, set(), [], [])
    if facts is None:
        facts = HostSummary.objects.filter(host_id=host_id).values_list("facts", flat=True).first()
        forecast = Forecast.objects.filter(host_id=host_id).values_list("data", flat=True).first()
        facts = with_forecast(facts or {}, forecast)
    config = Config.from_settings()
    rows = {(a.rule, a.subject): a for a in Alert.objects.filter(host_id=host_id)}
    silenced = Silence.objects.active(now).filter(host_id=host_id).exists()
    observation, outcome = _run(host, facts or {}, rows, silenced, now, config)
    write(host, rows, outcome, now)
    signature = observation.signature()
    known = (host.status, host.clock_skew_s, _held(outcome.alerts.values()))

    transaction.on_commit(partial(_remember, host_id, signature, known))
    return outcome


def _run(
    host: Host, facts: dict, rows: dict, silenced: bool, now: datetime, config: Config
) -> tuple[Observation, Outcome]:
    observation = _observe(host, facts, now, config, _held(rows.values()))
    previous = {key: state_of(row) for key, row in rows.items()}
    return observation, evaluate(previous, observation, silenced, now, config)


def _observe(
    host: Host, facts: dict, now: datetime, config: Config, held: frozenset
) -> Observation:
    return observe(
        host.status,
        host.last_seen_at,
        host.clock_skew_s,
        facts,
        now,
        Thresholds.from_settings(),
        config.hysteresis_pct,
        held,
    )


def _held(alerts) -> frozenset:
    """Keys of the pending or firing percentage alerts (hysteresis applies to them)."""
    return frozenset(
        (a.rule, a.subject)
        for a in alerts
        if a.state in (PENDING, FIRING) and a.rule in HYSTERESIS_RULES
    )


def on_facts_changed(
    sender, host_id: int, facts: dict, now: datetime, clock_skew_s: float | None, **kwargs
) -> None:
    """metrics.signals.facts_changed, inside ingest's transaction.

    Costs no query when what holds is what held at the host's last evaluation in this process:
    the host's status and skew are those that evaluation read (a stale copy only makes the
    signatures differ, and the evaluation then reads the real row).
    """
    if not settings.PROXMON_ALERTS:
        return
    known = _hosts.get(host_id)
    if known is not None:
        status, skew, held = known
        skew = skew if clock_skew_s is None else clock_skew_s
        observation = observe(
            status,
            now,
            skew,
            facts,
            now,
            Thresholds.from_settings(),
            settings.PROXMON_ALERT_HYSTERESIS_PCT,
            held,
        )
        if observation.signature() == _signatures.get(host_id):
            return
    due = signals.store("alerts.due")
    if due is not None:
        # in a batch of the writer: evaluated with the batch's other hosts at its end (a
        # host this process has not evaluated yet, after a restart every host, or one whose
        # conditions changed), with the facts of its last sample in the batch
        if not due:
            signals.defer(partial(_evaluate_batch, due))
        due[host_id] = (facts, now)
        return
    try:
        with transaction.atomic():  # a savepoint: an alert bug never costs the sample
            evaluate_host(host_id, now, facts)
    except Exception:
        log.exception("evaluating the alerts of host %s failed; the sweep tries again", host_id)


def _evaluate_batch(pending: dict[int, tuple[dict, datetime]]) -> None:
    """The hosts of a writer's batch to be evaluated, at the end of the batch
    (on_facts_changed): their rows, alerts and silences read with a query each for all of
    them, as the sweep reads them, and what changed written as evaluate_host writes it. At a
    restart every host's first sample is to be evaluated, and its next two (the other tiers)
    change its conditions: evaluating each alone (four queries, through the ORM) took a sixth
    of the process at the start of 5,000 agents (docs/benchmarks.md, "Alerting at 5,000
    hosts")."""
    ids = list(pending)
    config = Config.from_settings()
    try:
        with transaction.atomic():  # a savepoint: an alert bug never costs the samples
            rows, silenced = _read(ids, max(now for _, now in pending.values()))
            hosts = list(Host.objects.filter(pk__in=ids).only(*HOST_FIELDS))
    except Exception:
        log.exception("reading the alerts of %d hosts failed; the sweep tries again", len(ids))
        return
    writes = []
    for host in hosts:
        facts, now = pending[host.pk]
        try:
            observation, outcome = _run(
                host, facts, rows[host.pk], host.pk in silenced, now, config
            )
        except Exception:
            log.exception("evaluating the alerts of host %s failed; the sweep tries again", host.pk)
            continue
        if outcome.changed or outcome.changes or outcome.items:
            writes.append((host, rows[host.pk], outcome, now, observation))
        else:
            known = (host.status, host.clock_skew_s, _held(rows[host.pk].values()))
            transaction.on_commit(partial(_remember, host.pk, observation.signature(), known))
    # What evaluate_host would read again is what was read: the host rows are locked already
    # (ingest's update of each in this transaction). All hosts in one go; if that fails, each
    # alone, so that one host's failure costs no other its alerts. (`dict(rows)`: a write
    # adds the new alerts to it, and an attempt rolled back must not leave them there.)
    try:
        with transaction.atomic():
            write_many([(h, dict(rows), out, at) for h, rows, out, at, _ in writes])
        written = writes
    except Exception:
        written = []
        for one in writes:
            host, rows, outcome, now, _ = one
            try:
                with transaction.atomic():
                    write(host, dict(rows), outcome, now)
                written.append(one)
            except Exception:
                log.exception("writing host %s's alerts failed; the sweep tries again", host.pk)
    for host, _, outcome, _, observation in written:
        known = (host.status, host.clock_skew_s, _held(outcome.alerts.values()))
        transaction.on_commit(partial(_remember, host.pk, observation.signature(), known))


def _read(ids: list[int], now: datetime) -> tuple[dict[int, dict], set[int]]:
    """The alert rows of these hosts by (rule, subject), and which of them are silenced."""
    rows: dict[int, dict] = {host_id: {} for host_id in ids}
    for alert in Alert.objects.filter(host_id__in=ids):
        rows[alert.host_id][(alert.rule, alert.subject)] = alert
    silenced = set(
        Silence.objects.active(now).filter(host_id__in=ids).values_list("host_id", flat=True)
    )
    return rows, silenced


def _remember(host_id: int, signature: tuple, known: tuple) -> None:
    _signatures[host_id], _hosts[host_id] = signature, known


def sweep(now: datetime | None = None, rest: Callable[[float], None] | None = None) -> int:
    """Evaluate every host that ever connected; returns how many.

    Read in bulk (SWEEP_CHUNK hosts per query); a host is evaluated again, in a transaction of
    its own, only if something is to be written. Most rounds change nothing, and on SQLite a
    transaction per host would take the write lock a thousand times every
    PROXMON_ALERT_SWEEP_S for nothing.

    With `rest` (the alert worker's), the sweep is paced: after each SLICE_S of work it calls
    `rest(seconds)` for REST_FACTOR times that work, so it takes at most a quarter of the
    process's one GIL. Run flat out over 5,000 hosts it held the GIL for seconds every 15 s,
    and every agent connection of the process waited for its acks meanwhile (p99 2.7 s;
    docs/benchmarks.md, "Issue 11: 5,000 agents"). A paced sweep takes longer: each chunk is
    judged at the time it is read (`now` fixed by the caller holds for all).
    """
    fixed = now
    config = Config.from_settings()
    ids = list(
        Host.objects.exclude(status=Host.Status.NEVER_CONNECTED).values_list("id", flat=True)
    )
    pace = _Pace(rest)
    for start in range(0, len(ids), SWEEP_CHUNK):
        now = fixed or timezone.now()
        chunk = ids[start : start + SWEEP_CHUNK]
        facts = dict(HostSummary.objects.filter(host_id__in=chunk).values_list("host_id", "facts"))
        forecasts = dict(Forecast.objects.filter(host_id__in=chunk).values_list("host_id", "data"))
        rows, silenced = _read(chunk, now)
        for host in Host.objects.filter(pk__in=chunk).only(*HOST_FIELDS):
            try:
                known = with_forecast(facts.get(host.pk) or {}, forecasts.get(host.pk))
                observation, outcome = _run(
                    host, known, rows[host.pk], host.pk in silenced, now, config
                )
                if outcome.changed or outcome.changes or outcome.items:
                    with transaction.atomic():
                        evaluate_host(host.pk, now)
                else:
                    _seed(host, observation, rows[host.pk])
            except Exception:
                log.exception("evaluating the alerts of host %s failed", host.pk)
            pace.step()
    return len(ids)


def _seed(host: Host, observation: Observation, rows: dict) -> None:
    """What a sweep that found nothing to write saw, as if evaluate_host had run: the host's
    next samples are then not evaluated again at ingest unless their signature differs.

    After a restart the process knew no host, and every host's first sample ran a whole
    evaluation at ingest, in the sample's transaction: at 5,000 agents that was a sixth of the
    start (docs/benchmarks.md, "Issue 11: 5,000 agents"). Only a host this process has no
    record of is seeded: a record from ingest's evaluation may be newer than what this sweep
    read."""
    _signatures.setdefault(host.pk, observation.signature())
    _hosts.setdefault(host.pk, (host.status, host.clock_skew_s, _held(rows.values())))


# A paced sweep works this long at a stretch, then rests REST_FACTOR times as long.
SLICE_S = 0.01
REST_FACTOR = 3.0


class _Pace:
    def __init__(self, rest: Callable[[float], None] | None) -> None:
        self.rest = rest
        self.started = time.perf_counter()

    def step(self) -> None:
        if self.rest is None:
            return
        worked = time.perf_counter() - self.started
        if worked >= SLICE_S:
            self.rest(worked * REST_FACTOR)
            self.started = time.perf_counter()


def prune(now: datetime | None = None) -> int:
    """Forget transitions, resolved alerts and delivered messages past the history window."""
    before = (now or timezone.now()) - timedelta(days=settings.PROXMON_ALERT_HISTORY_DAYS)
    deleted = Transition.objects.filter(at__lt=before).delete()[0]
    deleted += Alert.objects.filter(state=Alert.State.RESOLVED, resolved_at__lt=before).delete()[0]
    deleted += Delivery.objects.filter(
        state=Delivery.State.DELIVERED, delivered_at__lt=before
    ).delete()[0]
    return deleted
