"""Compact CRM core with an OmniCRM-compatible API."""
