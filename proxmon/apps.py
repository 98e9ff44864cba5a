from django.apps import AppConfig


class ProxmonConfig(AppConfig):
    """The project package as an app: only so that its system checks are registered."""

    name = "proxmon"

    def ready(self) -> None:
        from proxmon import checks  # noqa: F401  (registers the checks)
