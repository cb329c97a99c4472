"""Message transports: SCTP's message, stream and payload protocol id, over kernel SCTP or
framed over TCP, behind one interface (SBc-AP now, M3UA later)."""
