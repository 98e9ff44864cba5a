"""Channels (URLs masked once saved), silences, and read-only alerts and deliveries."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from alerts import sender
from alerts.models import Alert, Channel, Delivery, Silence, validate_apprise_url


class ChannelForm(forms.ModelForm):
    """The URL is write-only: it is never sent back to the browser; empty keeps the saved one."""

    url = forms.CharField(
        label="Apprise URL",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text="e.g. mailtos://user:pass@example.com?to=ops@example.com, ntfys://ntfy.sh/topic, "
        "json://hooks.example.com/proxmon (docs/alerts.md). Kept secret: shown masked once "
        "saved; leave empty to keep the current one.",
    )

    signing_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Webhooks (json://, form://, xml://): each body is signed with HMAC-SHA256 "
        "in the header X-Proxmon-Signature. Leave empty to keep the current one.",
    )

    class Meta:
        model = Channel
        fields = ["name", "url", "min_level", "tags", "enabled", "signing_secret"]

    def clean_signing_secret(self) -> str:
        return self.cleaned_data.get("signing_secret") or self.instance.signing_secret

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "").strip()
        if not url:
            if self.instance.pk:
                return self.instance.url
            raise forms.ValidationError("An Apprise URL is required.")
        validate_apprise_url(url)
        return url


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "masked_url", "min_level", "tags", "enabled", "health"]
    readonly_fields = ["masked_url", "last_ok_at", "last_error_at", "last_error"]
    actions = ["send_test"]

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "min_level", "tags", "enabled", "signing_secret"]
        return (
            fields
            if obj is None
            else ["name", "masked_url", *fields[1:], *self.readonly_fields[1:]]
        )

    @admin.display(description="URL")
    def masked_url(self, obj: Channel) -> str:
        return obj.masked_url

    @admin.display(description="health")
    def health(self, obj: Channel) -> str:
        if obj.failing:
            return f"failing: {obj.last_error[:80]}"
        return "ok" if obj.last_ok_at else "nothing sent yet"

    @admin.action(description="Send a test message")
    def send_test(self, request, queryset) -> None:
        for channel in queryset:
            result = sender.notify(
                channel.url,
                "proxmon: test message",
                f"A test of channel {channel.name} from the admin.",
                f"test-{timezone.now():%Y%m%dT%H%M%S%f}",
            )
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{channel.name}: {result.answer}", level)


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["host", "until", "reason", "created_by", "created_at"]
    list_filter = ["host"]
    fields = ["host", "until", "reason"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnly):
    list_display = ["host", "rule", "subject", "state", "level", "text", "since", "acked_by"]
    list_filter = ["state", "level", "rule"]
    search_fields = ["host__name", "subject", "text"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ["created_at", "channel", "title", "state", "attempts", "delivered_at"]
    list_filter = ["state", "channel"]
    exclude = ["key"]
