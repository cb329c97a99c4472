"""Peer simulators for labs, tests and benchmarks (`omnigw sim ...`)."""
