"""The script ``fleetload demo`` runs against the reference target."""

__all__ = ["mixed"]
