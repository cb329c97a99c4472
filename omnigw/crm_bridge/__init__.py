"""Provisioning hooks and subscriber-to-account resolution between the CRM and the OCS."""
