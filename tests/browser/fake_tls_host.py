#!/usr/bin/env python3
"""fake_tls_host.py URL CA HOST_ID HOST_TOKEN GENERATION ENCLAVE_ID

The host's half of a tls_enable job, for tests/integration/console.sh: syncs
as host HOST_ID (reporting ENCLAVE_ID running) and answers the TLS host ops of
/work/wt/TLS-CONTRACT.md / docs/tls.md "Credentials: the job and its steps":

  tls_generate (enclave, gen, host_id) -> {"point": b64 65 bytes, "proof": b64 64 bytes}
      a P-256 key made here; proof = ECDSA P-256 (r||s, low-s) over
      SHA-256("cloister-tls-pop/1" 0 host_id 0 "tls/<enclave>:<gen>" 0 point)
  tls_install (enclave, gen, chain, policy) -> ok
  tls_remove (enclave) -> ok

Written against the contract while the control plane's side (branch
h-tlsjob) was being built: where an op's arguments sit (on the op, or in its
data at GET .../ops/{op}/data) is read both ways. Runs until killed.
"""
import base64
import hashlib
import json
import ssl
import sys
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

URL, CA, HID, HT, GEN, EID = sys.argv[1:7]
CTX = ssl.create_default_context(cafile=CA)
CTX.check_hostname = False
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def call(method, path, body=None, timeout=40):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + HT)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw.strip() else {}) if r.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def args_of(op):
    """The op's arguments: its own fields, then whatever its data holds."""
    a = dict(op)
    if "data" in op and isinstance(op["data"], str):
        try:
            a.update(json.loads(base64.b64decode(op["data"])))
        except ValueError:
            pass
    if "gen" not in a and "generation" not in a:
        st, body = call("GET", "/v1/hosts/%s/ops/%s/data" % (HID, op["op"]))
        if st == 200:
            try:
                a.update(json.loads(body if isinstance(body, (bytes, str)) else json.dumps(body)))
            except ValueError:
                pass
    return a


def tls_generate(a):
    gen = a.get("gen", a.get("generation"))
    slot = "tls/%s:%s" % (a.get("enclave", EID), gen)
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    digest = hashlib.sha256(b"cloister-tls-pop/1\0" + a.get("host_id", HID).encode() + b"\0" + slot.encode() + b"\0" + point).digest()
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    if s > P256_N // 2:
        s = P256_N - s
    proof = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {"point": base64.b64encode(point).decode(), "proof": base64.b64encode(proof).decode()}


def main():
    gen = int(GEN)
    results = []
    while True:
        st, ans = call("POST", "/v1/hosts/%s/sync" % HID, {
            "generation": gen, "wait_ms": 2000, "results": results,
            "enclaves": [{"id": EID, "state": "running", "memory_mib": 64}]})
        results = []
        if st != 200 or not isinstance(ans, dict):
            print("sync:", st, ans, flush=True)
            time.sleep(0.5)
            continue
        gen = ans.get("generation", gen)
        for op in ans.get("ops", []):
            kind = op.get("kind")
            if kind not in ("tls_generate", "tls_install", "tls_remove"):
                continue
            a = args_of(op)
            result = {"ok": True}
            if kind == "tls_generate":
                result["data"] = base64.b64encode(json.dumps(tls_generate(a)).encode()).decode()
            st, body = call("POST", "/v1/hosts/%s/ops/%s" % (HID, op["op"]), result)
            print("op", kind, op["op"], "->", st, body, flush=True)


if __name__ == "__main__":
    main()
