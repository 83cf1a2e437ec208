// verify.js — verifies a Cloister attestation document with code Cloister did
// not write: the npm package cose-js (COSE_Sign1, ES384, untagged documents
// with defaultType 18), the npm package cbor (the payload), and Node's own
// crypto.X509Certificate (the chain). Used by tests/integration/attest_thirdparty.sh.
//
//   node verify.js DOC ROOT.pem [--pcr N=HEX]... [--nonce HEX]
//
// Prints "ok <module_id>" and exits 0, or prints "refused: <why>" and exits 1.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const cbor = require('cbor');
const cose = require('cose-js');

function refuse(why) {
  console.log('refused: ' + why);
  process.exit(1);
}

const [docPath, rootPath, ...rest] = process.argv.slice(2);
const expect = { pcrs: {}, nonce: null };
for (let i = 0; i < rest.length; i += 2) {
  if (rest[i] === '--pcr') {
    const [n, hex] = rest[i + 1].split('=');
    expect.pcrs[Number(n)] = hex;
  } else if (rest[i] === '--nonce') {
    expect.nonce = rest[i + 1];
  } else {
    refuse('usage: unknown option ' + rest[i]);
  }
}
const doc = fs.readFileSync(docPath);
const root = new crypto.X509Certificate(fs.readFileSync(rootPath));

// The payload, read before anything is trusted only to find the leaf.
let outer = cbor.decodeFirstSync(doc);
if (outer instanceof cbor.Tagged) outer = outer.value;
if (!Array.isArray(outer) || outer.length !== 4) refuse('not a COSE_Sign1 array');
// cbor decodes a map of text keys as an object (keys in their order), of
// integer keys as a Map.
const payload = cbor.decodeFirstSync(outer[2]);
const keys = Object.keys(payload);
const field = (k) => payload[k];
const want = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle', 'public_key', 'user_data', 'nonce'];
if (keys.join(',') !== want.join(',')) refuse('payload keys ' + keys.join(','));

// The chain: cabundle[0] is the pinned root; each certificate is issued and
// signed by the one before it, valid now; the CAs are CAs, the leaf is not.
const bundle = field('cabundle').map((der) => new crypto.X509Certificate(der));
const leaf = new crypto.X509Certificate(field('certificate'));
if (!bundle[0].raw.equals(root.raw)) refuse('cabundle[0] is not the trusted root');
const chain = [...bundle, leaf];
const now = Date.now();
for (let i = 0; i < chain.length; i++) {
  const c = chain[i], issuer = chain[i === 0 ? 0 : i - 1];
  if (!c.checkIssued(issuer) || !c.verify(issuer.publicKey)) refuse('chain: certificate ' + i + ' is not signed by its issuer');
  if (now < Date.parse(c.validFrom) || now > Date.parse(c.validTo)) refuse('chain: certificate ' + i + ' is not valid now');
  if (c.ca !== (i < chain.length - 1)) refuse('chain: certificate ' + i + (c.ca ? ' is a CA' : ' is not a CA'));
}
const jwk = leaf.publicKey.export({ format: 'jwk' });
if (jwk.crv !== 'P-384') refuse('leaf key is ' + jwk.crv);

// The COSE signature, by cose-js, under the leaf's key.
let signed;
try {
  signed = cose.sign.verifySync(doc, { key: { x: Buffer.from(jwk.x, 'base64url'), y: Buffer.from(jwk.y, 'base64url') } },
    { defaultType: cose.sign.Sign1Tag });
} catch (e) {
  refuse('signature: ' + e.message);
}
if (!Buffer.from(signed).equals(outer[2])) refuse('signature: cose-js returned another payload');

const pcrs = field('pcrs');
for (const [n, hex] of Object.entries(expect.pcrs)) {
  const got = pcrs.get(Number(n));
  if (!got || got.toString('hex') !== hex) refuse('pcr ' + n + ' differs');
}
if (expect.nonce !== null) {
  const got = field('nonce');
  if (!got || got.toString('hex') !== expect.nonce) refuse('nonce differs');
}
console.log('ok ' + field('module_id'));
