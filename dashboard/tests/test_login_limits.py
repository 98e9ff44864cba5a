"""Failed logins are limited on every login page, per address and user name, with a ceiling
per address (metrics/limits.py): the Django test client, then a real daphne process."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request

import pytest

from metrics.limits import login_limiter

PAGES = ["/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _fresh_login_limiter():
    login_limiter.reset()
    yield
    login_limiter.reset()


@pytest.fixture
def users(db, django_user_model):
    for name in ("alice", "bob", "carol"):
        django_user_model.objects.create_superuser(name, "", f"{name}-right-password-1")


def login(client, page: str, name: str, password: str | None = None):
    password = password or f"{name}-right-password-1"
    return client.post(page, {"username": name, "password": password})


@pytest.mark.parametrize("page", PAGES)
def test_every_login_page_is_limited_per_name_and_others_still_log_in(client, users, page):
    for _ in range(5):
        assert login(client, page, "alice", "wrong").status_code == 200
    refused = login(client, page, "alice")  # the right password, unchecked
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert b"Too many failed logins" in refused.content
    assert "_auth_user_id" not in client.session
    # bob, behind the same address, is not locked out by alice's failures
    assert login(client, page, "bob").status_code == 302


def test_admin_login_is_no_way_around_the_limit_of_the_login_page(client, users):
    for page in ("/login/", "/login/", "/login/", "/admin/login/", "/admin/login/"):
        assert login(client, page, "ALICE", "wrong").status_code == 200
    for page in PAGES:
        assert login(client, page, "alice", "wrong").status_code == 429


def test_spraying_names_stops_at_the_address_ceiling(client, users, settings):
    settings.PROXMON_LOGIN_FAILURES_PER_MINUTE = 2
    settings.PROXMON_LOGIN_FAILURES_PER_ADDRESS = 4
    assert login(client, "/login/", "carol").status_code == 302  # carol logged in from here
    client.logout()
    for name in ("u1", "u1", "u2", "u3"):
        assert login(client, "/admin/login/", name, "guess").status_code == 200
    # at the ceiling a name new to this address is refused, a right password too ...
    assert login(client, "/login/", "u4", "guess").status_code == 429
    assert login(client, "/admin/login/", "bob").status_code == 429
    # ... while carol, who logged in from here before, still gets in
    assert login(client, "/admin/login/", "carol").status_code == 302


# --- a real server ---------------------------------------------------------------------------


class Browser:
    """Cookies and CSRF like a browser, over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def post_login(self, page: str, name: str, password: str) -> int:
        self.opener.open(self.base + page).read()
        csrf = next(c.value for c in self.jar if c.name == "csrftoken")
        body = urllib.parse.urlencode(
            {"username": name, "password": password, "csrfmiddlewaretoken": csrf}
        ).encode()
        request = urllib.request.Request(
            self.base + page, data=body, headers={"Referer": self.base + page}
        )
        try:
            with self.opener.open(request) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.e2e
def test_real_server_limits_both_login_pages_and_lets_another_user_in(live_server_factory):
    server = live_server_factory()
    server.manage(
        "shell",
        "-v0",
        "-c",
        "from django.contrib.auth.models import User\n"
        "User.objects.create_superuser('alice', '', 'alice-right-password-1')\n"
        "User.objects.create_superuser('bob', '', 'bob-right-password-1')",
    )
    server.start()
    for page in PAGES:
        browser = Browser(server.http_url)
        codes = [browser.post_login(page, "alice", "wrong") for _ in range(6)]
        assert codes == [200] * 5 + [429], (page, codes)
        # the limit is shared: the other page refuses alice too
        other = PAGES[1 - PAGES.index(page)]
        assert browser.post_login(other, "alice", "alice-right-password-1") == 429
        # bob, from the same address, logs in on both
        for each in PAGES:
            assert Browser(server.http_url).post_login(each, "bob", "bob-right-password-1") == 302
        server.stop()  # the count is kept per process: a fresh one for the next page
        server.start()


def test_a_redirect_of_someone_logged_in_is_no_success_for_the_name_posted(client, users, settings):
    settings.PROXMON_LOGIN_FAILURES_PER_MINUTE = 2
    settings.PROXMON_LOGIN_FAILURES_PER_ADDRESS = 2
    assert login(client, "/login/", "bob").status_code == 302
    # bob, logged in, posts carol's name: redirected without a password check
    assert login(client, "/login/", "carol", "guess").status_code == 302
    client.logout()
    for name in ("u1", "u2"):
        assert login(client, "/login/", name, "guess").status_code == 200
    assert login(client, "/login/", "carol").status_code == 429  # carol never logged in here
    assert login(client, "/login/", "bob").status_code == 302
