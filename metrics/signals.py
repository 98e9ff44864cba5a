"""What metrics tells apps that build on it (alerts), without importing them.

- `facts_changed(host_id, facts, now)`: a sample became the latest of its tier and the host's
  compact facts changed; sent inside ingest's transaction, so a receiver's writes commit or
  roll back with the sample.
- `background_started()` / `background_stopping()`: the server process's background thread
  (metrics.liveness) starts or stops; receivers start and stop their own work with it.
"""

from __future__ import annotations

from django.dispatch import Signal

facts_changed = Signal()
background_started = Signal()
background_stopping = Signal()
