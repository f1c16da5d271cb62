"""fleetplane: the reference fleet control plane that fleetload tests against.

A standalone server (REST + ACME discovery + gRPC agent ingest) with
certctl-compatible shapes; it imports nothing from ``fleetload``.
"""

__version__ = "0.1.0"
