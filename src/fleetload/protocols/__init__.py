"""Talking to servers: HTTP/1.1 (``http``), ACME (``acme``), MQTT (``mqtt``)."""

__all__ = ["acme", "http", "mqtt"]
