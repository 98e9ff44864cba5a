#!/usr/bin/env python3
"""Django's command-line utility for proxmon."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxmon.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018  (loads proxmon/settings.py)
    except ImproperlyConfigured as exc:
        # A setting that cannot load names its variable in one line; a traceback adds nothing.
        sys.exit(f"proxmon: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
