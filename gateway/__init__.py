"""The ASGI ingress, admin API, CLI and wiring."""
