"""omnigw: a telecom network gateway daemon (CBC, charging edge, CRM bridge)."""

__version__ = "0.1.0"
