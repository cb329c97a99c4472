"""CBSP (TS 48.049) toward BSCs: codec, link state machine, TCP link."""
