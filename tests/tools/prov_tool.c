/* prov_tool — encrypts a bundle to the public key inside an attestation
 * document, as `cloister enclave provision` does, but without its checks,
 * so tests can send what a client never would (a tampered ciphertext, a
 * digest that does not match, a tar with a link) straight through the API
 * (tests/integration/host_provision.sh). A test program, never installed.
 *
 *   prov_tool seal DOC.cbor TAR OUT     the wrap of TAR to DOC's public_key
 */
#include <stdio.h>
#include <string.h>

#include "attest/attest.h"
#include "common/buf.h"
#include "common/bundle.h"
#include "common/util.h"
#include "common/wrap.h"

int main(int argc, char **argv)
{
	cl_buf doc, tar, ct;
	cl_att_doc *d = NULL;
	uint8_t point[CL_WRAP_POINT_LEN];
	int rc = 1;
	if (argc != 5 || strcmp(argv[1], "seal") != 0) {
		fprintf(stderr, "usage: prov_tool seal DOC.cbor TAR OUT\n");
		return 2;
	}
	cl_buf_init(&doc, CL_ATT_DOC_MAX);
	cl_buf_init(&tar, CL_BUNDLE_MAX);
	cl_buf_init(&ct, CL_BUNDLE_MAX + CL_WRAP_OVERHEAD);
	if (cl_file_read(argv[2], CL_ATT_DOC_MAX, &doc) != CL_OK || cl_att_parse(doc.data, doc.len, &d) != CL_OK ||
	    !d->f.public_key.p || cl_wrap_point(d->f.public_key.p, d->f.public_key.n, point) != CL_OK ||
	    cl_file_read(argv[3], CL_BUNDLE_MAX, &tar) != CL_OK ||
	    cl_wrap_seal_bundle(point, tar.data, tar.len, &ct) != CL_OK ||
	    cl_file_write_atomic(argv[4], ct.data, ct.len, 0600) != CL_OK) {
		fprintf(stderr, "prov_tool: %s\n", cl_error_detail());
		goto out;
	}
	rc = 0;
out:
	cl_att_doc_free(d);
	cl_buf_free(&doc);
	cl_buf_free(&tar);
	cl_buf_free(&ct);
	return rc;
}
