#!/usr/bin/env python3
"""Independent implementation (python3 `cryptography`) of the broker's wrap
construction (docs/broker.md), used for test_wrap.c's known-answer vector.

  wrap <recipient-private-scalar-hex> <ephemeral-private-scalar-hex> <iv-hex> <plaintext-hex>
      prints the wrapped bytes as hex (deterministic: fixed ephemeral key and iv)
  open <recipient-private-key.pem> <wrapped-file> [label]
      prints the plaintext bytes to stdout (label: the HKDF info prefix,
      default the broker's; the keystore example uses its own)
"""
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"cloister-broker-wrap-v1"
PT = serialization.PublicFormat.UncompressedPoint
ENC = serialization.Encoding.X962


def key(e_point, q_point, z, info=INFO):
    return HKDF(algorithm=hashes.SHA384(), length=32, salt=None, info=info + e_point + q_point).derive(z)


def wrap(d_hex, e_hex, iv_hex, pt_hex):
    q = ec.derive_private_key(int(d_hex, 16), ec.SECP384R1()).public_key()
    e = ec.derive_private_key(int(e_hex, 16), ec.SECP384R1())
    ep = e.public_key().public_bytes(ENC, PT)
    qp = q.public_bytes(ENC, PT)
    z = e.exchange(ec.ECDH(), q)
    iv = bytes.fromhex(iv_hex)
    ct = AESGCM(key(ep, qp, z)).encrypt(iv, bytes.fromhex(pt_hex), None)
    print((ep + iv + ct).hex())


def unwrap(pem, path, label=INFO.decode()):
    with open(pem, "rb") as f:
        d = serialization.load_pem_private_key(f.read(), None)
    with open(path, "rb") as f:
        w = f.read()
    ep, iv, ct = w[:97], w[97:109], w[109:]
    e = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), ep)
    qp = d.public_key().public_bytes(ENC, PT)
    sys.stdout.buffer.write(AESGCM(key(ep, qp, d.exchange(ec.ECDH(), e), label.encode())).decrypt(iv, ct, None))


if __name__ == "__main__":
    if sys.argv[1] == "wrap":
        wrap(*sys.argv[2:6])
    else:
        unwrap(*sys.argv[2:5])
