"""The pieces of the dashboard the server core needs: health check, login wall, admin account."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_overview_needs_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_ensure_admin_generates_and_prints_a_password_once(settings):
    settings.PROXMON_ADMIN_PASSWORD = ""
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
    assert user.password.startswith("argon2")
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert "exists already" in out.getvalue() and password not in out.getvalue()


def test_ensure_admin_takes_the_password_from_the_setting(settings):
    # PROXMON_ADMIN_PASSWORD in the environment; that it reaches ensure_admin, the browser
    # tests' live servers show (they log in with it)
    settings.PROXMON_ADMIN_PASSWORD = "correct horse battery staple"
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert "correct horse" not in out.getvalue()
    user = get_user_model().objects.get(username="admin")
    assert user.check_password("correct horse battery staple")
