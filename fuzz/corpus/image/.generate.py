#!/usr/bin/env python3
"""Regenerates the seed corpus for fuzz/fuzz_image.c (run from this directory).

Valid images and one invalid image per parser rule. The file tiny.img is the
example dumped in docs/image-format.md."""
import hashlib, json, struct

def manifest(files, entry="/app/hello", args=(), extra=None, name="tiny", version="1.0"):
    m = {"format": 1, "name": name, "version": version, "entrypoint": entry, "args": list(args),
         "files": [{"path": p, "mode": mode, "size": len(c), "sha384": hashlib.sha384(c).hexdigest()}
                   for p, mode, c in files]}
    if extra:
        m.update(extra)
    return json.dumps(m, separators=(",", ":")).encode()

def image(m, payload, magic=b"CLIMAGE1", mlen=None):
    return magic + struct.pack(">I", len(m) if mlen is None else mlen) + m + payload

def std(files, **kw):
    return image(manifest(files, **kw), b"".join(c for _, _, c in files))

HELLO = [("app/hello", 0o755, b"#!/bin/sh\necho hi\n")]
TWO = [("app/kv", 0o755, b"\x7fELF..."), ("etc/kv/conf.json", 0o644, b'{"port":8080}\n'), ("data/empty", 0o600, b"")]
cases = {
    "tiny.img": std(HELLO),
    "two-files.img": std(TWO, entry="/app/kv", args=["--port", "8080"]),
    "bad-magic": std(HELLO)[:7] + b"2" + std(HELLO)[8:],
    "truncated-header": b"CLIMAGE1\x00\x00",
    "truncated-payload": std(HELLO)[:-1],
    "huge-manifest-length": image(manifest(HELLO), HELLO[0][2], mlen=0xFFFFFFFF),
    "bad-json": image(b'{"format":1,', b""),
    "traversal": std([("app/hello", 0o755, b"x"), ("../x", 0o644, b"y")]),
    "absolute-path": std([("app/hello", 0o755, b"x"), ("/etc/passwd", 0o644, b"y")]),
    "duplicate-path": std([("app/hello", 0o755, b"x"), ("app/hello", 0o755, b"x")]),
    "file-as-dir": std([("app/hello", 0o755, b"x"), ("app", 0o644, b"y")]),
    "unknown-field": std(HELLO, extra={"signature": "none"}),
    "setuid-mode": std([("app/hello", 0o4755, b"x")]),
    "entry-not-exec": std([("app/hello", 0o644, b"x")]),
    "digest-mismatch": std(HELLO)[:-2] + b"!\n",
    "size-overflow": image(json.dumps({"format": 1, "name": "o", "version": "1", "entrypoint": "/a", "args": [],
        "files": [{"path": p, "mode": 0o755, "size": s, "sha384": hashlib.sha384(b"").hexdigest()}
                  for p, s in (("a", 2**63 - 1), ("b", 2**63 - 1), ("c", 2))]}, separators=(",", ":")).encode(), b""),
}
for name, data in cases.items():
    with open(name, "wb") as f:
        f.write(data)
