/* attest_tool — makes attestation documents with Cloister's own code
 * (cl_att_build) over a throw-away chain, for the tests that check them with
 * something else (tests/integration/attest_*.sh) and for the fuzz seeds and
 * the byte-level example of docs/attestation.md. A test program, never
 * installed: it holds the chain's private keys in memory.
 *
 *   attest_tool make DIR [--nonce HEX] [--user-data TEXT] [--public-key]
 *                        [--expired] [--timestamp MS]
 *
 * writes into DIR (which must exist):
 *   root.pem, root.der     the root (the only thing a verifier trusts)
 *   other-root.pem         an unrelated root (must be refused)
 *   doc.cbor               the document (untagged COSE_Sign1)
 *   doc-tagged.cbor        the same with tag 18
 *   doc-tampered.cbor      doc.cbor with one PCR2 byte flipped after signing
 *   doc-resigned.cbor      the same fields signed by another P-384 key
 *   pcrs.txt               "N=HEX" for each of the 16 PCRs
 *   serial.txt             the leaf's serial (cl_att_leaf_serial)
 * --expired makes a leaf that expired an hour ago (doc.cbor then fails the
 * chain check). --public-key binds an uncompressed P-384 point.
 *
 *   attest_tool sign OUT KEY.pem LEAF.der ROOT.der [INTERMEDIATE.der...]
 *
 * writes to OUT a document signed by KEY (a P-384 private key, PEM) for an
 * existing chain, e.g. one the control plane issued (tests/integration/
 * attest_control.sh); the fixture's PCRs and module id, no nonce.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "attest/attest.h"
#include "common/util.h"
#include "../unit/test_attest_fixture.h"

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "attest_tool: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_pem(const char *dir, const char *name, X509 *x)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0) {
		fprintf(stderr, "attest_tool: %s: cannot write\n", path);
		return -1;
	}
	return 0;
}

static int usage(void)
{
	fputs("usage: attest_tool make DIR [--nonce HEX] [--user-data TEXT] [--public-key] [--expired] "
	      "[--timestamp MS]\n"
	      "       attest_tool sign OUT KEY.pem LEAF.der ROOT.der [INTERMEDIATE.der...]\n",
	      stderr);
	return 2;
}

static uint8_t *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = malloc(CL_ATT_CERT_MAX + 1);
	FX_CHECK(f && p);
	*n = fread(p, 1, CL_ATT_CERT_MAX + 1, f);
	fclose(f);
	FX_CHECK(*n > 0 && *n <= CL_ATT_CERT_MAX);
	return p;
}

static int sign_existing(int argc, char **argv)
{
	if (argc < 6 || argc - 5 > CL_ATT_CABUNDLE_MAX)
		return usage();
	FILE *kf = fopen(argv[3], "r");
	EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
	if (kf)
		fclose(kf);
	FX_CHECK(key);
	fx_chain none = {0};
	cl_att_fields f;
	uint8_t *certs[1 + CL_ATT_CABUNDLE_MAX] = {0}, *doc = NULL;
	size_t lens[1 + CL_ATT_CABUNDLE_MAX], len;
	fx_fields(&f, &none, NULL, 0);
	certs[0] = read_all(argv[4], &lens[0]);
	f.certificate = (cl_att_bytes){certs[0], lens[0]};
	f.ncabundle = (size_t)argc - 5;
	for (size_t i = 0; i < f.ncabundle; i++) {
		certs[1 + i] = read_all(argv[5 + i], &lens[1 + i]);
		f.cabundle[i] = (cl_att_bytes){certs[1 + i], lens[1 + i]};
	}
	int rc = 1;
	if (cl_att_build(&f, fx_sign, key, &doc, &len) != CL_OK)
		fprintf(stderr, "attest_tool: %s\n", cl_error_detail());
	else if (write_file(NULL, argv[2], doc, len) == 0)
		rc = 0;
	free(doc);
	for (size_t i = 0; i <= f.ncabundle; i++)
		free(certs[i]);
	EVP_PKEY_free(key);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return sign_existing(argc, argv);
	if (argc < 3 || strcmp(argv[1], "make") != 0)
		return usage();
	const char *dir = argv[2];
	uint8_t nonce[CL_ATT_NONCE_MAX], point[97];
	size_t nonce_len = 0;
	const char *user_data = NULL;
	int expired = 0, with_key = 0, rc = 1;
	uint64_t ts = 0;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc) {
			const char *h = argv[++i];
			nonce_len = strlen(h) / 2;
			if (strlen(h) % 2 || nonce_len > sizeof(nonce) || cl_hex_decode(h, nonce, nonce_len) != CL_OK)
				return usage();
		} else if (strcmp(argv[i], "--user-data") == 0 && i + 1 < argc) {
			user_data = argv[++i];
		} else if (strcmp(argv[i], "--timestamp") == 0 && i + 1 < argc) {
			ts = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--expired") == 0) {
			expired = 1;
		} else if (strcmp(argv[i], "--public-key") == 0) {
			with_key = 1;
		} else {
			return usage();
		}
	}
	fx_chain c, other;
	fx_opts o = {.leaf_not_after = expired ? -3600 : 0};
	fx_chain_make(&c, &o);
	fx_chain_make(&other, NULL);
	cl_att_fields f;
	fx_fields(&f, &c, nonce_len ? nonce : NULL, nonce_len);
	if (ts)
		f.timestamp_ms = ts;
	if (user_data)
		f.user_data = (cl_att_bytes){(const uint8_t *)user_data, strlen(user_data)};
	if (with_key) {
		FX_CHECK(EVP_PKEY_get_octet_string_param(other.leaf_key, "encoded-pub-key", point, sizeof(point), NULL));
		f.public_key = (cl_att_bytes){point, sizeof(point)};
	}
	uint8_t *doc = NULL, *resigned = NULL, *tagged = NULL;
	size_t len, rlen;
	cl_att_doc *d = NULL;
	char serial[41], line[160];
	if (cl_att_build(&f, fx_sign, c.leaf_key, &doc, &len) != CL_OK ||
	    cl_att_build(&f, fx_sign, other.leaf_key, &resigned, &rlen) != CL_OK ||
	    cl_att_parse(doc, len, &d) != CL_OK || cl_att_leaf_serial(d, serial) != CL_OK) {
		fprintf(stderr, "attest_tool: %s\n", cl_error_detail());
		goto out;
	}
	tagged = malloc(len + 1);
	FX_CHECK(tagged);
	tagged[0] = 0xd2;
	memcpy(tagged + 1, doc, len);
	if (write_pem(dir, "root.pem", c.root) || write_pem(dir, "other-root.pem", other.root) ||
	    write_file(dir, "root.der", c.root_der, c.root_len) || write_file(dir, "doc.cbor", doc, len) ||
	    write_file(dir, "doc-tagged.cbor", tagged, len + 1) || write_file(dir, "doc-resigned.cbor", resigned, rlen))
		goto out;
	uint8_t *pcr2 = memmem(doc, len, f.pcrs[2], CL_ATT_PCR_LEN);
	FX_CHECK(pcr2);
	pcr2[CL_ATT_PCR_LEN - 1] ^= 0x01;
	if (write_file(dir, "doc-tampered.cbor", doc, len))
		goto out;
	char pcrs[CL_ATT_NPCRS * 104];
	size_t off = 0;
	for (int i = 0; i < CL_ATT_NPCRS; i++) {
		char hex[2 * CL_ATT_PCR_LEN + 1];
		cl_hex_encode(f.pcrs[i], CL_ATT_PCR_LEN, hex);
		off += (size_t)snprintf(pcrs + off, sizeof(pcrs) - off, "%d=%s\n", i, hex);
	}
	snprintf(line, sizeof(line), "%s\n", serial);
	if (write_file(dir, "pcrs.txt", pcrs, strlen(pcrs)) || write_file(dir, "serial.txt", line, strlen(line)))
		goto out;
	rc = 0;
out:
	cl_att_doc_free(d);
	free(doc);
	free(resigned);
	free(tagged);
	fx_chain_free(&c);
	fx_chain_free(&other);
	return rc;
}
