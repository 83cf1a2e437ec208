#!/usr/bin/env python3
"""An independent implementation of Cloister's measurement registers
(docs/measurements.md), written from the document with nothing but hashlib,
for tests/unit/test_measure.c and test_image_sig.c to check the C code against.

  measure_ref.py extend HEX...          PCR from zeros extended with each HEX in turn
  measure_ref.py image IMAGE [INIT HELPER]
                                        "PCR0 PCR1 PCR2 PCR8" of an image file: PCR1 is
                                        INIT (cloister-init) then HELPER (cloister-init-bundle);
                                        zeros without them; PCR8 zeros if unsigned
"""
import hashlib
import json
import struct
import sys

ZERO = bytes(48)


def extend(reg, data):
    return hashlib.sha384(reg + hashlib.sha384(data).digest()).digest()


def lp(s):
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def image(path, init, helper):
    d = open(path, "rb").read()
    assert d[:8] == b"CLIMAGE1"
    mlen = struct.unpack(">I", d[8:12])[0]
    m = json.loads(d[12:12 + mlen])
    body = 12 + mlen + sum(f["size"] for f in m["files"])
    app = lp(m["entrypoint"]) + struct.pack(">I", len(m["args"])) + b"".join(lp(a) for a in m["args"])
    app += struct.pack(">I", len(m["files"]))
    for f in m["files"]:
        app += lp(f["path"]) + struct.pack(">IQ", f["mode"], f["size"]) + bytes.fromhex(f["sha384"])
    pcr8 = ZERO
    if len(d) > body:
        assert d[body:body + 8] == b"CLIMGSIG"
        clen = struct.unpack(">I", d[body + 8:body + 12])[0]
        assert len(d) == body + 12 + clen + 96
        pcr8 = extend(ZERO, d[body + 12:body + 12 + clen])
    pcr1 = extend(extend(ZERO, open(init, "rb").read()), open(helper, "rb").read()) if init else ZERO
    return [extend(ZERO, d[:body]), pcr1, extend(ZERO, app), pcr8]


if sys.argv[1] == "extend":
    r = ZERO
    for h in sys.argv[2:]:
        r = extend(r, bytes.fromhex(h))
    print(r.hex())
elif sys.argv[1] == "image":
    if len(sys.argv) not in (3, 5):
        sys.exit("image IMAGE [INIT HELPER]")
    print(" ".join(r.hex() for r in image(sys.argv[2], *(sys.argv[3:5] if len(sys.argv) == 5 else (None, None)))))
else:
    sys.exit("unknown command")
