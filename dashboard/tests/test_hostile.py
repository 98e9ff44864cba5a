"""Pages render whatever an acked sample holds: odd raw zpool output, control and bidi characters
in names. Samples go through the protocol's validation and the real ingest, as a registered
agent's would."""

from __future__ import annotations

import pytest
from django.utils import timezone

from dashboard.tests.test_pages import healthy, healthy_fast
from hosts.models import Host
from metrics.decode import validate_sample
from metrics.ingest import ingest
from metrics.tests import frames

pytestmark = pytest.mark.django_db


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("op", password="x-strong-1"))
    return client


def store(name: str, tiers: dict[str, dict], errors: dict | None = None, validate=True) -> Host:
    host = Host.objects.filter(name=name).first() or Host.objects.create(
        name=name, token_hash="hash"
    )
    now = timezone.now()
    for seq, (tier, data) in enumerate(tiers.items()):
        frame = frames.sample(tier, seq, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), data=data)
        frame["errors"] = (errors or {}).get(tier, {})
        if validate:
            assert validate_sample(frame) is None, validate_sample(frame)
        ingest(host.pk, "hash", frame, now, None)
    Host.objects.filter(pk=host.pk).update(status=Host.Status.ONLINE, last_seen_at=now)
    return host


def with_raw(raw) -> dict:
    data = healthy_fast()
    data["zfs_pools"]["raw"] = raw
    return data


CYCLE = {"status": {"pools": {"rpool": {"vdevs": {"a": {"parent": "b"}, "b": {"parent": "a"}}}}}}


def chain(n: int) -> dict:
    flat = {
        f"v{i}": {"vdev_type": "disk", "state": "ONLINE", "parent": f"v{i - 1}" if i else None}
        for i in range(n)
    }
    return {"status": {"pools": {"rpool": {"vdevs": flat}}}}


HOSTILE_RAW = {
    "list": [1, "two", {"three": 3}],
    "string": "zpool status: something went wrong",
    "number": 7,
    "odd-dict": {"status": {"pools": ["rpool"]}, "status_text": 12},
    "pool-entry-odd": {"status": {"pools": {"rpool": {"vdevs": "none"}}}},
    "unhashable-parent": {"status": {"pools": {"rpool": {"vdevs": {"a": {"parent": {}}}}}}},
    "chain-3000": chain(3000),
    "cycle": CYCLE,
}


# Acked before the protocol required raw to be an object or null (77f65fd): still in databases.
REFUSED_NOW = {"list", "string", "number"}


@pytest.mark.parametrize("form", sorted(HOSTILE_RAW))
def test_host_page_renders_any_raw_an_agent_sends(user_client, form):
    store("pve1", {"fast": with_raw(HOSTILE_RAW[form])}, validate=form not in REFUSED_NOW)
    response = user_client.get("/hosts/pve1/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="pool-rpool"' in page
    if form != "unhashable-parent":
        assert "vdev tree not readable" in page
    fragment = user_client.get("/hosts/pve1/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="host-live")
    assert fragment.status_code == 200
    assert user_client.get("/").status_code == 200


@pytest.mark.parametrize("form", ["null", "absent"])
def test_host_page_shows_pools_without_a_tree_when_raw_is_null_or_absent(user_client, form):
    data = healthy_fast()
    if form == "null":
        data["zfs_pools"]["raw"] = None
    else:
        del data["zfs_pools"]["raw"]
    store("pve1", {"fast": data})
    response = user_client.get("/hosts/pve1/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="pool-rpool"' in page and "not readable" not in page
    assert '<table class="vdevs">' not in page


BAD = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x01\x07\x1b\x7f\x9b"


def test_clean_drops_control_and_bidi_characters():
    from dashboard.templatetags.proxmon import clean

    assert clean("evil\u202egpj.exe") == "evilgpj.exe"
    assert clean("a\x00b\x1bc\u2066d\u2069") == "abcd"
    assert clean("two\nlines\tand tab") == "two lines and tab"
    assert clean("ünïcödé ok, 名前 too") == "ünïcödé ok, 名前 too"
    assert clean(None) == ""
    assert clean(42) == "42"


def hostile_names() -> dict[str, dict]:
    fast = healthy_fast()
    pool = fast["zfs_pools"]["pools"][0]
    pool["name"] = f"tank{BAD}x"
    pool.update(health="DEGRADED", degraded_vdevs=1)
    fast["zfs_pools"]["raw"] = {
        "status": {"pools": {pool["name"]: {"vdevs": {f"sda{BAD}": {"state": "FAULTED"}}}}}
    }
    fast["storage"][0]["storage"] = f"st{BAD}ore"
    fast["guests"][0]["name"] = f"evil{BAD}gpj.exe"
    medium = healthy("medium")
    medium["guest_configs"][0].update(name=f"evil{BAD}gpj.exe", tags=[f"t{BAD}"], ips=["10.9.9.9"])
    medium["datasets"]["datasets"][0]["name"] = f"rpool/d{BAD}"
    slow = healthy("slow")
    slow["system"]["pve_version"] = f"8.4{BAD}"
    return {"fast": fast, "medium": medium, "slow": slow}


def test_names_reach_no_page_with_control_or_bidi_characters(user_client):
    tiers = hostile_names()
    store("pve1", tiers, errors={"medium": {"datasets": f"zfs list{BAD} failed"}})
    urls = [
        ("/", {}),
        ("/", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "fleet"}),
        ("/hosts/pve1/", {}),
        ("/hosts/pve1/", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "host-live"}),
        ("/vms/?q=evil", {}),
        ("/vms/?q=10.9.9.9", {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}),
    ]
    for url, headers in urls:
        response = user_client.get(url, **headers)
        assert response.status_code == 200
        page = response.content.decode()
        found = [f"U+{ord(c):04X}" for c in BAD if c in page]
        assert not found, (url, headers, found)
        assert "evilgpj.exe" in page or url == "/", url
    host_page = user_client.get("/hosts/pve1/").content.decode()
    for shown in ("tankx", ">store<", "rpool/d", "8.4", "zfs list failed", "sda"):
        assert shown in host_page, shown


def test_cleaning_keeps_escaping(user_client):
    fast = healthy_fast()
    fast["guests"][0]["name"] = "<script>\u202ealert(1)</script>"
    medium = healthy("medium")
    medium["guest_configs"][0]["name"] = "<script>\u202ealert(1)</script>"
    store("pve1", {"fast": fast, "medium": medium})
    for url in ("/hosts/pve1/", "/vms/?q=script"):
        page = user_client.get(url).content.decode()
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
