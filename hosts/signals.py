"""Signals other apps listen to; hosts never imports them back."""

from django.dispatch import Signal

# Sent after a host's token was replaced or the host deleted: its live agent must go.
# Arguments: host_id.
token_revoked = Signal()

# Sent before a host is deleted (Host.delete, HostQuerySet.delete): whatever an app keeps about
# the host must go first, in bounded chunks, as the host row goes after. A receiver returns
# Django's per-model counts of what it deleted ({"app.Model": n}). Arguments: host_id.
host_deleting = Signal()
