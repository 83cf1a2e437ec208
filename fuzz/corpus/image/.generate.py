#!/usr/bin/env python3
"""Regenerates the seed corpus for fuzz/fuzz_image.c (run from this directory).

Valid images and one invalid image per parser rule, unsigned and signed (the
signature section of docs/image-format.md; keys and certificates are made
afresh with the openssl command, so the signed seeds change on every run).
The file tiny.img is the example dumped in docs/image-format.md and
docs/measurements.md."""
import hashlib, json, os, struct, subprocess, tempfile

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

def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout

def der_int(b, i):
    assert b[i] == 0x02
    n = b[i + 1]
    return int.from_bytes(b[i + 2:i + 2 + n], "big"), i + 2 + n

def raw_sig(der):
    """ECDSA-Sig-Value DER -> r || s, 48 bytes each (P-384 lengths fit one byte)."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    r, i = der_int(der, i)
    s_, _ = der_int(der, i)
    return r.to_bytes(48, "big") + s_.to_bytes(48, "big")

def key_and_cert(d, name, curve="secp384r1"):
    k, c = os.path.join(d, name + ".key"), os.path.join(d, name + ".der")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:" + curve, "-nodes", "-keyout", k,
            "-outform", "DER", "-out", c, "-subj", "/CN=seed signer " + name, "-days", "3650")
    return k, open(c, "rb").read()

def section(cert, sig, clen=None):
    return b"CLIMGSIG" + struct.pack(">I", len(cert) if clen is None else clen) + cert + sig

def signed(body, key, cert):
    return body + section(cert, raw_sig(openssl("dgst", "-sha384", "-sign", key, data=body)))

with tempfile.TemporaryDirectory() as d:
    key, cert = key_and_cert(d, "a")
    key_b, cert_b = key_and_cert(d, "b")
    key_256, cert_256 = key_and_cert(d, "p256", "prime256v1")
    tiny, two = std(HELLO), cases["two-files.img"]
    ok = signed(tiny, key, cert)
    cases.update({
        "signed-tiny.img": ok,
        "signed-two-files.img": signed(two, key_b, cert_b),
        "signed-bad-sig": ok[:-1] + bytes([ok[-1] ^ 1]),
        "signed-wrong-key": tiny + section(cert, raw_sig(openssl("dgst", "-sha384", "-sign", key_b, data=tiny))),
        "signed-tampered-body": tiny.replace(b'"tiny"', b'"tinY"') + ok[len(tiny):],
        "signed-truncated-sig": ok[:-10],
        "signed-truncated-header": tiny + b"CLIMGSIG\x00\x00",
        "signed-trailing": ok + b"\x00",
        "signed-cert-garbage": tiny + section(b"\x30\x03\x02\x01\x01" + bytes(len(cert) - 5), ok[-96:]),
        "signed-cert-len-zero": tiny + section(b"", ok[-96:]),
        "signed-cert-len-huge": tiny + section(cert, ok[-96:], clen=0xFFFFFFFF),
        "signed-p256-cert": signed(tiny, key_256, cert_256),
        "trailing-not-section": tiny + b"NOTASIG!" + bytes(120),
    })

for name, data in cases.items():
    with open(name, "wb") as f:
        f.write(data)
