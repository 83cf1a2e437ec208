#!/usr/bin/python3
"""cose_verify.py — checks a Cloister firmware bundle (or trust-root document)
with code Cloister did not write: cbor2 decodes it, and for every COSE_Sign1
authentication block this script builds the RFC 9052 Sig_structure
["Signature1", protected, external_aad, payload] itself and verifies ES384
with python3-cryptography against the signers' public keys (PEM files).

usage: cose_verify.py bundle|trust-root FILE PUB.pem...
Prints one line per block; exits 0 only if every block verifies under one of
the given keys and the image digest/size match the manifest (bundles)."""
import hashlib
import sys

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

AAD = {"bundle": b"cloister-fw/manifest/1", "trust-root": b"cloister-fw/trust-root/1"}


def kid_of(pub):
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def main():
    kind, path, pems = sys.argv[1], sys.argv[2], sys.argv[3:]
    keys = {}
    for p in pems:
        with open(p, "rb") as f:
            pub = serialization.load_pem_public_key(f.read())
        keys[kid_of(pub)] = (p, pub)
    with open(path, "rb") as f:
        doc = cbor2.loads(f.read())
    if kind == "bundle":
        fmt, payload, blocks, image = doc
        assert fmt == 1, "bundle format version"
        manifest = cbor2.loads(payload)
        assert manifest[8] == len(image), "image size"
        if 11 not in manifest:  # plain image: its SHA-384 is in the manifest
            assert hashlib.sha384(image).digest() == manifest[7], "image digest"
        print("manifest: component=%s version=%s sequence=%d" % (manifest[4], manifest[5], manifest[6]))
    else:
        payload, blocks = doc
        body = cbor2.loads(payload)
        print("trust root: version=%d threshold=%d signers=%d" % (body[1], body[2], len(body[3])))
    if not blocks:
        print("no signatures")
        return 1
    for prot_bytes, unprot, nil, sig in blocks:
        prot = cbor2.loads(prot_bytes)
        assert prot[1] == -35, "alg must be ES384"
        assert unprot == {} and nil is None and len(sig) == 96
        kid = prot[4]
        if kid not in keys:
            print("kid %s: no such key given" % kid.hex())
            return 1
        name, pub = keys[kid]
        sig_structure = cbor2.dumps(["Signature1", prot_bytes, AAD[kind], payload])
        der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
        try:
            pub.verify(der, sig_structure, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            print("kid %s (%s): BAD signature" % (kid.hex(), name))
            return 1
        print("kid %s (%s): ES384 signature valid" % (kid.hex(), name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
