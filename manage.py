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
    try:
        execute_from_command_line(sys.argv)
    except SystemExit as exc:
        # argparse exits 2 on bad usage (a missing or unknown argument); the README promises
        # scripts one status for bad input, 1, as CommandError gives.
        if exc.code == 2:
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
