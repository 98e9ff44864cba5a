"""E-mail channels: Apprise's mailto:// against a real SMTP server on this machine (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from alerts.models import Channel, Delivery
from alerts.tests.conftest import evaluate
from alerts.tests.test_delivery import deliver_all
from liveserver import free_port

pytestmark = pytest.mark.django_db


class Inbox:
    """What the SMTP server received: one parsed message per mail."""

    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def mail_url(port: int) -> str:
    # plain SMTP to a server on this machine; a real one is mailtos:// (docs/alerts.md)
    return f"mailto://127.0.0.1:{port}?from=proxmon@example.com&to=ops@example.com"


def body(mail: email.message.EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain", "html")).get_content()


def test_notify_test_reaches_a_mailbox(smtp):
    inbox, port = smtp
    call_command("add_channel", "mail", mail_url(port))
    call_command("notify_test", "mail")
    [mail] = inbox.mails
    assert mail["Subject"] == "proxmon: test message"
    assert inbox.envelopes == [("proxmon@example.com", ["ops@example.com"])]
    assert "A test of channel mail" in body(mail)


def test_degraded_pool_is_mailed_once_with_host_pool_and_state(smtp, host):
    inbox, port = smtp
    call_command("add_channel", "mail", mail_url(port))
    pve7 = host("pve7", health="DEGRADED")
    evaluate(pve7)
    deliver_all(Channel.objects.get(name="mail"))
    [mail] = inbox.mails
    assert mail["Subject"] == "pve7: tank DEGRADED"
    assert "[critical] pve7: tank DEGRADED since " in body(mail)
    assert Delivery.objects.get().state == "delivered"
