#!/bin/sh
# Regenerates omnigw/cbc/sbcap/asn.py: the SBc-AP ASN.1 of TS 29.168 (in ../shared/asn1/sbcap,
# or the directory given) compiled by pycrate's compiler. Run from the repository's root.
set -eu
src="${1:-../shared/asn1/sbcap}"
out=omnigw/cbc/sbcap/asn
.venv/bin/python .venv/bin/pycrate_asn1compile.py -i "$src/" -o "$out"
echo "wrote $out.py from $src"
