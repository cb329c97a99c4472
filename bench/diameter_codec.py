"""Diameter CCR decode/encode: omnigw's lean codec vs python-diameter, same bytes.

.venv/bin/python bench/diameter_codec.py --rounds 20000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from diameter.message import Message as PdMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omnigw.diameter.codec import decode, encode
from tests.diameter.test_codec import _python_diameter_ccr


def per_op(fn: object, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - started) / rounds * 1e6


def main(rounds: int) -> None:
    wire = _python_diameter_ccr()
    ours = decode(wire)
    theirs = PdMessage.from_bytes(wire)
    print(f"CCR of {len(wire)} octets with one MSCC, {rounds} rounds each")
    print(
        f"decode  omnigw {per_op(lambda: decode(wire), rounds):7.1f} us   "
        f"python-diameter {per_op(lambda: PdMessage.from_bytes(wire), rounds):7.1f} us"
    )
    print(f"encode  omnigw {per_op(lambda: encode(ours), rounds):7.1f} us   "
          f"python-diameter {per_op(theirs.as_bytes, rounds):7.1f} us")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    main(parser.parse_args().rounds)
