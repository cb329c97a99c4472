"""CAMEL gsmSCF: M3UA/SCCP/TCAP and CAP operations for prepaid voice and SMS."""
