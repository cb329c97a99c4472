"""CAP: the operations of CAMEL between gsmSSF and gsmSCF."""
