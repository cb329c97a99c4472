"""SCCP connectionless (ITU-T Q.713): what carries TCAP between gsmSSF and gsmSCF."""
