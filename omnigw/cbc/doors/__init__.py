"""The doors alerts come in by besides the native API: OASIS CAP and osmo-cbc's ECBE."""
