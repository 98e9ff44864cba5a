"""proxmon agent: collects a Proxmox host's state and pushes it to the proxmon server.

This package never imports Django: it is frozen into one file and runs on the Proxmox host.
"""

__version__ = "0.1.0"
