"""Onboarding and revocation in the Django admin.

Adding a host or revoking its token shows the new token once, with the install steps; it is
never stored in clear, so a lost token means revoking and installing the new one.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html

from hosts import downloads, onboarding
from hosts.models import Host


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "tags",
        "status",
        "last_seen_at",
        "agent_version",
        "pve_version",
        "zfs_version",
        "kernel",
    ]
    list_filter = ["status"]
    search_fields = ["name", "tags"]
    ordering = ["name"]
    readonly_fields = [
        "status",
        "created_at",
        "last_seen_at",
        "agent_version",
        "pve_version",
        "zfs_version",
        "kernel",
        "clock_skew_s",
        "revoke_link",
    ]

    def get_readonly_fields(self, request, obj=None):
        # The agent joins by name: renaming would lock it out, so a name is fixed once created.
        if obj is None:
            return ()
        return ("name", *self.readonly_fields)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "tags"]
        return ["name", "tags", *self.readonly_fields]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on a host's page is editable (the name is fixed, the rest comes from its
        # agent): no Save buttons, a Close link back to the list instead.
        extra_context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_deleted_objects(self, objs, request):
        """What the delete confirmation lists: the hosts, and in words what goes with them.

        Not Django's list of every related row: a host that reported for two days has
        100,000s of samples, and the collector would call them protected (a sample protects
        the keyframe it is compressed against). They are deleted with the host, in chunks,
        by the apps that keep them (hosts.signals.host_deleting).
        """
        hosts = list(objs)
        deleted = []
        for host in hosts:
            url = reverse("admin:hosts_host_change", args=[host.pk])
            deleted.append(format_html('Host: <a href="{}">{}</a>', url, host.name))
            deleted.append(["its samples, charts, guests and status, and its agent's connection"])
        perms_needed = set()
        if any(not self.has_delete_permission(request, host) for host in hosts):
            perms_needed.add(self.model._meta.verbose_name)
        return deleted, {self.model._meta.verbose_name_plural: len(hosts)}, perms_needed, []

    @admin.display(description="Token")
    def revoke_link(self, obj: Host) -> str:
        url = reverse("admin:hosts_host_revoke", args=[obj.pk])
        return format_html('<a class="button" href="{}">Revoke token and issue a new one</a>', url)

    def save_model(self, request, obj: Host, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            # handed to response_add, which shows it once
            obj._new_token = obj.issue_token()  # type: ignore[attr-defined]

    def response_add(self, request, obj: Host, post_url_continue=None) -> HttpResponse:
        token: str = obj._new_token  # type: ignore[attr-defined]
        return self._token_page(request, obj, token, "Host added")

    def get_urls(self):
        return [
            path(
                "<int:host_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="hosts_host_revoke",
            ),
            *super().get_urls(),
        ]

    def revoke_view(self, request: HttpRequest, host_id: int) -> HttpResponse:
        host = get_object_or_404(Host, pk=host_id)
        if not self.has_change_permission(request, host):
            raise PermissionDenied
        if request.method == "POST":
            with transaction.atomic():
                token = host.revoke_token()
            messages.success(request, f"The old token of {host.name} no longer works.")
            return self._token_page(request, host, token, "Token revoked")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "host": host,
            "title": f"Revoke the token of {host.name}?",
        }
        return render(request, "admin/hosts/host/revoke_confirm.html", context)

    def _token_page(self, request, host: Host, token: str, title: str) -> HttpResponse:
        url = onboarding.agent_url(request)
        context = {
            # no PROXMON_PUBLIC_URL: the address is this browser's, which agents may not reach
            "url_guessed": not settings.PROXMON_PUBLIC_URL,
            "agent_url": url,
            "web_url": onboarding.web_url(request),
            "binary_sha256": downloads.binary_sha256(),
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "host": host,
            "title": f"{title}: {host.name}",
            "token": token,
            "install_block": onboarding.install_block(
                onboarding.web_url(request), url, host.name, token
            ),
        }
        response = render(request, "admin/hosts/host/token.html", context)
        response["Cache-Control"] = "no-store"
        return response
