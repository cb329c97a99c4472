"""Diameter base protocol (RFC 6733) and the Gy credit-control application (RFC 4006)."""
