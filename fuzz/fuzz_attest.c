/* Fuzzes the attestation document parser and verifier (src/attest) with
 * arbitrary bytes. A refusal leaves *out NULL and has a one-line detail. An
 * accepted document must be exactly what cl_att_build writes for the fields
 * it yields (so there is one encoding of a document, never two), every field
 * must lie inside the document's copy, and the verifier (trusting the
 * document's own cabundle[0], the deepest path) must answer CL_OK or
 * CL_ECRYPTO with the check that failed, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"

static void one_line(void)
{
	for (const char *c = cl_error_detail(); *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			__builtin_trap();
}

static void inside(const cl_att_doc *d, cl_att_bytes b, size_t max)
{
	if (!b.p)
		return;
	if (b.p < d->raw || b.n > max || b.p + b.n > d->raw + d->raw_len)
		__builtin_trap();
}

/* The parsed signature, handed back to cl_att_build. */
static cl_err same_sig(void *ctx, const uint8_t digest[CL_ATT_DIGEST_LEN], uint8_t sig[CL_ATT_SIG_LEN])
{
	const cl_att_doc *d = ctx;
	if (memcmp(digest, d->tbs_digest, CL_ATT_DIGEST_LEN) != 0)
		__builtin_trap(); /* build and parse disagree on what is signed */
	memcpy(sig, d->signature, CL_ATT_SIG_LEN);
	return CL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_att_doc *d = NULL;
	if (cl_att_parse(data, size, &d) != CL_OK) {
		if (d)
			__builtin_trap();
		one_line();
		return 0;
	}
	const cl_att_fields *f = &d->f;
	size_t idlen = strlen(f->module_id);
	if (f->module_id != d->module_id || idlen == 0 || idlen > CL_ATT_MODULE_ID_MAX || f->ncabundle == 0 ||
	    f->ncabundle > CL_ATT_CABUNDLE_MAX || !f->certificate.p)
		__builtin_trap();
	inside(d, f->certificate, CL_ATT_CERT_MAX);
	for (size_t i = 0; i < f->ncabundle; i++)
		inside(d, f->cabundle[i], CL_ATT_CERT_MAX);
	inside(d, f->public_key, CL_ATT_PUBKEY_MAX);
	inside(d, f->user_data, CL_ATT_USER_DATA_MAX);
	inside(d, f->nonce, CL_ATT_NONCE_MAX);

	uint8_t *again = NULL;
	size_t len = 0;
	if (cl_att_build(f, same_sig, d, &again, &len) != CL_OK)
		__builtin_trap();
	size_t skip = size == len + 1 ? 1 : 0; /* the tag 18 the parser also takes */
	if (len + skip != size || memcmp(again, data + skip, len) != 0)
		__builtin_trap();
	free(again);

	cl_att_expect e = {.root_der = f->cabundle[0].p, .root_len = f->cabundle[0].n, .now = 1800000000}; /* inside the seeds' validity */
	enum cl_att_check chk = CL_ATT_CHECK_NONE;
	cl_err err = cl_att_verify(d, &e, &chk);
	if ((err != CL_OK && err != CL_ECRYPTO) || (err == CL_OK) != (chk == CL_ATT_CHECK_NONE))
		__builtin_trap();
	one_line();
	char serial[41];
	if (cl_att_leaf_serial(d, serial) == CL_OK && strlen(serial) > 40)
		__builtin_trap();
	cl_att_doc_free(d);
	return 0;
}
