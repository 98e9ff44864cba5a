"""alerts.evaluation.evaluate: every transition, delay, hysteresis, flapping, offline, unknown."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from alerts.evaluation import FIRING, PENDING, RESOLVED, AlertState, evaluate
from alerts.rules import RULES, Config, Finding, Observation, observe
from metrics.status import Thresholds
from metrics.summary import compact
from metrics.tests.frames import BASE_TIME, DATA, POOL

T0 = BASE_TIME
DELAYS = dict.fromkeys(RULES, 600.0) | {
    "offline": 180.0,
    "pool_health": 0.0,
    "pool_data_errors": 0.0,
}
CONFIG = Config(delays=DELAYS)
DEGRADED = {("pool_health", "tank"): Finding("critical", "tank DEGRADED")}
FULL = ("pool_capacity", "tank")


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


class Run:
    """Feeds observations one after the other, like ingest and the sweep do."""

    def __init__(self, config: Config = CONFIG):
        self.alerts: dict = {}
        self.config = config
        self.items: list = []
        self.changes: list = []

    def step(self, seconds: float, present=None, silenced=False, **obs):
        observation = Observation(present or {}, **obs)
        outcome = evaluate(self.alerts, observation, silenced, at(seconds), self.config)
        self.alerts = outcome.alerts
        self.items, self.changes = outcome.items, outcome.changes
        return outcome

    def state(self, key=("pool_health", "tank")) -> str:
        return self.alerts[key].state if key in self.alerts else ""

    def kinds(self) -> list[str]:
        return [item.kind for item in self.items]


# --- transitions ----------------------------------------------------------------------------


def test_degraded_pool_fires_at_once_and_is_announced_once():
    run = Run()
    outcome = run.step(0, DEGRADED)
    assert run.state() == FIRING
    assert [c.kind for c in outcome.changes] == ["pending", "fired"]
    assert run.kinds() == ["firing"]
    run.step(15, DEGRADED)
    assert run.state() == FIRING and run.items == [] and run.changes == []


def test_firing_alert_resolves_with_a_resolved_message():
    run = Run()
    run.step(0, DEGRADED)
    run.step(60, {})
    assert run.state() == RESOLVED
    assert [c.kind for c in run.changes] == ["resolved"]
    assert run.kinds() == ["resolved"]
    assert run.alerts[("pool_health", "tank")].resolved_at == at(60)


def test_pending_alert_that_goes_away_is_cleared_without_a_message():
    run = Run()
    run.step(0, {("updates", ""): Finding("warning", "12 updates pending")})
    assert run.state(("updates", "")) == PENDING
    run.step(599, {})
    assert run.state(("updates", "")) == RESOLVED
    assert [c.kind for c in run.changes] == ["cleared"]
    assert run.items == []


def test_resolved_alert_that_comes_back_is_a_new_episode_under_the_same_key():
    run = Run()
    run.step(0, DEGRADED)
    run.step(60, {})
    run.step(120, DEGRADED)
    alert = run.alerts[("pool_health", "tank")]
    assert alert.state == FIRING and alert.since == at(120) and run.kinds() == ["firing"]
    assert list(run.alerts) == [("pool_health", "tank")]


def test_warning_that_becomes_critical_is_announced_as_escalated():
    run = Run(Config(delays={**DELAYS, "pool_capacity": 0.0}))
    run.step(0, {FULL: Finding("warning", "tank 85 % full")})
    run.step(30, {FULL: Finding("critical", "tank 91 % full")})
    assert [c.kind for c in run.changes] == ["escalated"]
    assert run.kinds() == ["escalated"]
    assert run.alerts[FULL].text == "tank 91 % full"


# --- delays ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [r for r in RULES if r != "offline"])
def test_every_rule_fires_exactly_after_its_delay(rule):
    delay = DELAYS[rule]
    key = (rule, "x")
    finding = {key: Finding("warning", f"{rule} holds")}
    run = Run()
    run.step(0, finding)
    if delay == 0:
        assert run.state(key) == FIRING
        return
    assert run.state(key) == PENDING
    run.step(delay - 0.001, finding)
    assert run.state(key) == PENDING and run.items == []
    run.step(delay, finding)
    assert run.state(key) == FIRING and run.kinds() == ["firing"]


def test_delays_come_from_settings(settings):
    settings.PROXMON_ALERT_DELAY_S = 42.0
    settings.PROXMON_ALERT_OFFLINE_DELAY_S = 7.0
    settings.PROXMON_ALERT_SCRUB_DELAY_S = 5.0
    config = Config.from_settings()
    assert config.delay("offline") == 7.0
    assert config.delay("scrub") == 5.0
    assert config.delay("pool_health") == 0.0
    assert config.delay("pool_data_errors") == 0.0


def test_default_delays_are_those_of_the_issue():
    config = Config.from_settings()
    assert config.delay("offline") == 180
    assert config.delay("pool_health") == config.delay("pool_data_errors") == 0
    assert {config.delay(r) for r in RULES} - {0, 180} == {600}
    assert config.hysteresis_pct == 2 and config.repeat_s == 86400


def test_offline_counts_its_delay_from_the_last_contact():
    run = Run()
    offline = {("offline", ""): Finding("critical", "offline", since=at(0))}
    run.step(100, offline, offline=True)
    assert run.state(("offline", "")) == PENDING
    run.step(179.9, offline, offline=True)
    assert run.state(("offline", "")) == PENDING
    run.step(180, offline, offline=True)
    assert run.state(("offline", "")) == FIRING and run.kinds() == ["firing"]
    assert run.alerts[("offline", "")].since == at(0)


def test_agent_restart_shorter_than_the_offline_delay_sends_nothing():
    run = Run()
    offline = {("offline", ""): Finding("critical", "offline", since=at(0))}
    run.step(15, offline, offline=True)
    run.step(60, {})
    assert run.state(("offline", "")) == RESOLVED
    assert [c.kind for c in run.changes] == ["cleared"] and run.items == []


# --- hysteresis -----------------------------------------------------------------------------


def capacity(used_pct: float, now) -> Observation:
    pool = {**copy.deepcopy(POOL), "name": "tank", "capacity_pct": used_pct}
    data = copy.deepcopy(DATA["fast"])
    data["zfs_pools"]["pools"] = [pool]
    facts = {"fast": compact("fast", data, {}, now, now, None)}
    return observe("online", now, 0.0, facts, now, Thresholds(), 2.0)


@pytest.mark.parametrize(
    ("used", "state"),
    [(90.0, FIRING), (88.5, FIRING), (88.0, FIRING), (87.99, RESOLVED), (80.0, RESOLVED)],
)
def test_capacity_alert_clears_only_below_threshold_minus_margin(used, state):
    # warning threshold 80 does not matter here: start critical, look at the critical level
    config = Config(delays={**DELAYS, "pool_capacity": 0.0})
    run = Run(config)
    run.alerts = evaluate({}, capacity(90.0, at(0)), False, at(0), config).alerts
    assert run.alerts[FULL].level == "critical"
    outcome = evaluate(run.alerts, capacity(used, at(60)), False, at(60), config)
    # at or above 88 the alert stays critical; below, it is a warning (still >= 80 - 2)
    assert outcome.alerts[FULL].state == FIRING
    expected_level = "critical" if state == FIRING else "warning"
    assert outcome.alerts[FULL].level == expected_level


@pytest.mark.parametrize(("used", "state"), [(78.0, FIRING), (77.99, RESOLVED)])
def test_capacity_warning_resolves_only_below_warning_minus_margin(used, state):
    config = Config(delays={**DELAYS, "pool_capacity": 0.0})
    first = evaluate({}, capacity(81.0, at(0)), False, at(0), config)
    assert first.alerts[FULL].state == FIRING
    outcome = evaluate(first.alerts, capacity(used, at(60)), False, at(60), config)
    assert outcome.alerts[FULL].state == state


def test_capacity_that_hovers_at_the_threshold_sends_one_message():
    config = Config(delays={**DELAYS, "pool_capacity": 0.0})
    alerts, sent = {}, []
    for step, used in enumerate([89.9, 90.1] * 10):
        outcome = evaluate(alerts, capacity(used, at(step * 30)), False, at(step * 30), config)
        alerts = outcome.alerts
        sent += [item.kind for item in outcome.items]
    assert sent == ["firing", "escalated"]


# --- flapping -------------------------------------------------------------------------------


def test_flapping_condition_is_held_firing_with_one_message_then_resolves_after_a_quiet_window():
    run = Run()
    sent = []
    for n in range(12):  # DEGRADED / ONLINE every minute
        run.step(n * 60, DEGRADED if n % 2 == 0 else {})
        sent += run.kinds()
    # fire, resolve, fire, resolve, then the fifth change: fired again, flapping, and held
    assert sent == ["firing", "resolved", "firing", "resolved", "firing"]
    alert = run.alerts[("pool_health", "tank")]
    assert alert.state == FIRING and alert.flapping
    # gone since the last step (11 min): held for a whole quiet window of 30 min
    run.step(12 * 60, {})
    run.step(11 * 60 + 1799, {})
    assert run.state() == FIRING and run.items == []
    run.step(11 * 60 + 1800, {})
    assert run.state() == RESOLVED and run.kinds() == ["resolved"]
    assert not run.alerts[("pool_health", "tank")].flapping


def test_slow_condition_that_flickers_fires_once_as_flapping_instead_of_never():
    run = Run()
    key = ("storage_inactive", "nfs")
    finding = {key: Finding("warning", "nfs inactive")}
    sent = []
    for n in range(10):
        run.step(n * 60, finding if n % 2 == 0 else {})
        sent += run.kinds()
    assert sent == ["firing"]
    assert run.alerts[key].flapping and run.alerts[key].state == FIRING


# --- unknown, offline -----------------------------------------------------------------------


def test_missing_data_keeps_a_firing_alert_firing_and_never_resolves_it():
    run = Run()
    run.step(0, DEGRADED)
    run.step(60, {}, unknown=frozenset({"pool_health"}))
    assert run.state() == FIRING and run.items == [] and run.changes == []
    run.step(120, {})
    assert run.state() == RESOLVED


def test_missing_data_keeps_a_pending_alert_pending():
    run = Run()
    key = ("updates", "")
    run.step(0, {key: Finding("warning", "3 updates pending")})
    run.step(300, {}, unknown=frozenset({"updates"}))
    assert run.state(key) == PENDING


def test_offline_host_holds_its_other_alerts_back_until_it_returns():
    run = Run()
    run.step(0, DEGRADED, silenced=True)  # fired during maintenance: not announced
    assert run.state() == FIRING and run.items == []
    offline = {("offline", ""): Finding("critical", "offline", since=at(10))}
    everything = frozenset(RULES) - {"offline"}
    run.step(300, offline, offline=True, unknown=everything)
    assert [i.alert.rule for i in run.items] == ["offline"]  # the offline alert alone
    run.step(600, DEGRADED)  # back: offline resolved, the pool still degraded
    assert sorted(run.kinds()) == ["firing", "resolved"]
    assert {i.alert.rule: i.kind for i in run.items} == {
        "pool_health": "firing",
        "offline": "resolved",
    }


def test_offline_host_does_not_resolve_its_other_alerts():
    run = Run()
    run.step(0, DEGRADED)
    offline = {("offline", ""): Finding("critical", "offline", since=at(10))}
    run.step(400, offline, offline=True, unknown=frozenset(RULES) - {"offline"})
    assert run.state() == FIRING
    assert [i.alert.rule for i in run.items] == ["offline"]


# --- silences, acks, repeats ----------------------------------------------------------------


def test_critical_alert_repeats_after_a_day():
    run = Run()
    run.step(0, DEGRADED)
    run.step(86399, DEGRADED)
    assert run.items == []
    run.step(86400, DEGRADED)
    assert run.kinds() == ["repeat"]
    run.step(86415, DEGRADED)
    assert run.items == []


def test_warning_does_not_repeat():
    run = Run(Config(delays={**DELAYS, "updates": 0.0}))
    key = ("updates", "")
    run.step(0, {key: Finding("warning", "3 updates pending")})
    run.step(3 * 86400, {key: Finding("warning", "3 updates pending")})
    assert run.items == []


def test_acknowledged_alert_stays_quiet_across_repeats_until_it_resolves():
    run = Run()
    run.step(0, DEGRADED)
    run.alerts[("pool_health", "tank")].acked_at = at(10)
    for day in (1, 2, 3):
        run.step(day * 86400, DEGRADED)
        assert run.items == []
    run.step(4 * 86400, {})
    assert run.kinds() == ["resolved"]
    assert run.alerts[("pool_health", "tank")].acked_at is None  # the next episode pages again
    run.step(4 * 86400 + 60, DEGRADED)
    assert run.kinds() == ["firing"]


def test_silence_sticks_across_a_repeat_and_nothing_is_sent_while_it_lasts():
    run = Run()
    run.step(0, DEGRADED)
    run.step(86400, DEGRADED, silenced=True)
    assert run.items == []
    run.step(2 * 86400, DEGRADED, silenced=True)
    assert run.items == []
    run.step(2 * 86400 + 60, DEGRADED)  # silence over: the repeat is due
    assert run.kinds() == ["repeat"]


def test_alert_that_fires_and_resolves_during_a_silence_sends_nothing():
    run = Run()
    run.step(0, DEGRADED, silenced=True)
    run.step(60, {}, silenced=True)
    run.step(120, {})
    assert run.state() == RESOLVED and run.items == []


def test_alert_still_firing_when_the_silence_ends_is_announced_then():
    run = Run()
    run.step(0, DEGRADED, silenced=True)
    run.step(60, DEGRADED)
    assert run.kinds() == ["firing"]


def test_items_are_worst_first():
    run = Run(Config(delays=dict.fromkeys(RULES, 0.0)))
    run.step(
        0,
        {
            ("updates", ""): Finding("warning", "3 updates pending"),
            ("pool_health", "tank"): Finding("critical", "tank DEGRADED"),
            ("clock_skew", ""): Finding("warning", "clock 75 s behind"),
        },
    )
    assert [i.alert.level for i in run.items] == ["critical", "warning", "warning"]


# --- keyed reasons, read from real facts ------------------------------------------------------


def test_observation_keys_pool_reasons_by_rule_and_pool_and_marks_missing_sources_unknown():
    data = copy.deepcopy(DATA["fast"])
    data["zfs_pools"]["pools"][0].update(health="DEGRADED", degraded_vdevs=1, data_errors=2)
    fast = compact("fast", data, {}, T0, T0, None)
    obs = observe("online", T0, 0.0, {"fast": fast}, T0, Thresholds(), 2.0)
    assert obs.present[("pool_health", "rpool")] == Finding(
        "critical", "rpool DEGRADED", detail="1 device not online"
    )
    assert ("pool_data_errors", "rpool") in obs.present
    # no medium or slow facts yet: their rules are unknown, not clear
    assert {"snapshot_newest", "snapshot_oldest", "updates"} <= obs.unknown
    assert "pool_health" not in obs.unknown
    del data["zfs_pools"]
    failing = compact("fast", data, {"zfs_pools": "timed out"}, T0, T0, None)
    obs = observe("online", T0, 0.0, {"fast": failing}, T0, Thresholds(), 2.0)
    assert "pool_health" in obs.unknown
    assert ("source_failing", "zfs_pools") in obs.present


def test_observation_of_an_offline_host_is_the_offline_alert_alone():
    obs = observe("offline", T0, None, {"fast": {}}, at(60), Thresholds(), 2.0)
    assert list(obs.present) == [("offline", "")]
    assert obs.present[("offline", "")].since == T0
    assert obs.offline and obs.unknown == frozenset(RULES) - {"offline"}
    never = observe("never_connected", None, None, {}, T0, Thresholds(), 2.0)
    assert never.present == {} and never.unknown == frozenset(RULES)


def test_alert_state_survives_a_round_trip_through_the_evaluation_unchanged():
    state = AlertState(
        "pool_health", "tank", FIRING, "critical", "tank DEGRADED", T0, notified=True
    )
    outcome = evaluate({state.key: state}, Observation(DEGRADED), False, at(30), CONFIG)
    assert outcome.changed == set()
