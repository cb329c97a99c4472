"""Feed PDUs to tshark's dissectors: write them into a pcap and read back chosen fields.

Each PDU travels in its own TCP segment with consistent sequence numbers, so the
only expert information tshark can raise is about the PDU itself.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

LINKTYPE_IPV4 = 228


def available() -> bool:
    return shutil.which("tshark") is not None


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_tcp_pcap(path: Path, pdus: list[bytes], port: int, from_server: bool = False) -> None:
    """One TCP segment per PDU between 127.0.0.1:40000 and 127.0.0.2:`port`."""
    client, server = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2])
    src, dst = (server, client) if from_server else (client, server)
    sport, dport = (port, 40000) if from_server else (40000, port)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_IPV4))
    seq = 1000
    for index, pdu in enumerate(pdus):
        tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
        pseudo = src + dst + struct.pack(">BBH", 0, 6, len(tcp) + len(pdu))
        tcp = tcp[:16] + struct.pack(">H", _checksum(pseudo + tcp + pdu)) + tcp[18:]
        total = 20 + len(tcp) + len(pdu)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, index, 0, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack(">H", _checksum(ip)) + ip[12:]
        packet = ip + tcp + pdu
        out += struct.pack("<IIII", index, 0, len(packet), len(packet)) + packet
        seq += len(pdu)
    path.write_bytes(bytes(out))


def fields(
    pdus: list[bytes], port: int, names: list[str], decode_as: str | None = None
) -> list[dict[str, list[str]]]:
    """Per PDU, each requested field's values (all occurrences), plus malformed/expert."""
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "pdus.pcap"
        write_tcp_pcap(pcap, pdus, port)
        return _read_fields(pcap, names, decode_as)


def _read_fields(pcap: Path, names: list[str], decode_as: str | None) -> list[dict[str, list[str]]]:
    wanted = [*names, "_ws.malformed", "_ws.expert.message", "_ws.expert.severity"]
    cmd = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=|"]  # fmt: skip
    if decode_as:
        cmd += ["-d", decode_as]
    for name in wanted:
        cmd += ["-e", name]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
    rows = []
    for line in result.stdout.splitlines():
        cols = line.split("\t")
        rows.append({n: (c.split("|") if c else []) for n, c in zip(wanted, cols, strict=False)})
    return rows


LINKTYPE_UPPER_PDU = 252  # Wireshark's exported PDU: names the dissector table and value


def write_upper_pdu_pcap(path: Path, pdus: list[bytes], table: str, value: int) -> None:
    """PDUs as tshark's dissector table `table` hands value `value` to (sctp.ppi 24: SBc-AP),
    without a transport under them (TCP cannot carry SBc-AP, and no kernel SCTP here)."""
    tags = struct.pack(">HH", 14, len(table)) + table.encode()  # dissector table name
    tags += struct.pack(">HHI", 32, 4, value) + struct.pack(">HH", 0, 0)  # its value; end
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_UPPER_PDU))
    for index, pdu in enumerate(pdus):
        packet = tags + pdu
        out += struct.pack("<IIII", index, 0, len(packet), len(packet)) + packet
    path.write_bytes(bytes(out))


def upper_pdu_fields(
    pdus: list[bytes], table: str, value: int, names: list[str]
) -> list[dict[str, list[str]]]:
    """As `fields`, for PDUs handed straight to a dissector table (see write_upper_pdu_pcap)."""
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "pdus.pcap"
        write_upper_pdu_pcap(pcap, pdus, table, value)
        return _read_fields(pcap, names, None)


def assert_clean(pdus: list[bytes], table: str, value: int, field: str, what: str) -> None:
    """Every PDU dissected with no malformed or expert flag (the session-end check of the
    tests that record what they exchange)."""
    rows = upper_pdu_fields(pdus, table, value, [field])
    assert len(rows) == len(pdus)
    bad = [(i, r) for i, r in enumerate(rows) if r["_ws.malformed"] or r["_ws.expert.message"]]
    assert not bad, f"tshark flagged {len(bad)} of {len(pdus)} {what}: {bad[:3]}"
    print(f"\ntshark dissected {len(pdus)} {what} exchanged in tests: all clean")
