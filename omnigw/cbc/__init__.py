"""Cell Broadcast Centre: alerts in, TS 23.041 messages out over CBSP and SBc-AP."""
