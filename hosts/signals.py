"""Signals other apps listen to; hosts never imports them back."""

from django.dispatch import Signal

# Sent after a host's token was replaced or the host deleted: its live agent must go.
# Arguments: host_id.
token_revoked = Signal()
