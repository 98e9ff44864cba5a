import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin account if there is none: password from PROXMON_ADMIN_PASSWORD, or "
        "generated and printed once. Does nothing when an admin exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=settings.PROXMON_ADMIN_USER)

    def handle(self, username: str, **options) -> str:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return "An admin account exists already; nothing changed."
        password = settings.PROXMON_ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(18)
        users.create_superuser(username=username, email="", password=password)
        if generated:
            return f"Created admin account {username!r} with password: {password}\n(shown once)"
        return f"Created admin account {username!r} with the password from PROXMON_ADMIN_PASSWORD."
