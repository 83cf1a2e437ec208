/* Unit tests for what needs image/measure.h and attest/attest.h on the
 * host: measuring an enclave at launch (src/host/agent_measure.c: once per
 * image digest) and the attest op's document (src/host/agent_attest_doc.c),
 * signed by a fake key holder and checked with attest.h's verifier against
 * the test root; the measure op's refusals (agent_rtm.c measures a real
 * sandbox: tests/integration/host_measure.sh). Fixture: test_agent_attest.h. */
#include "test_agent_attest.h"

#include "attest/attest.h"
#include "host/agent_measure.h"
#include "image/image.h"

#include <time.h>

/* ---- measuring ---- */

static void measure_cached_per_digest(void **state)
{
	fx *x = *state;
	char src[128], img[128], init[128], helper[128], hex[97];
	snprintf(src, sizeof(src), "%s/app", x->dir);
	snprintf(img, sizeof(img), "%s/app.img", x->dir);
	snprintf(init, sizeof(init), "%s/init", x->dir);
	snprintf(helper, sizeof(helper), "%s/init-bundle", x->dir);
	assert_int_equal(cl_file_write_atomic(src, "#!/bin/true\n", 12, 0755), CL_OK);
	assert_int_equal(cl_file_write_atomic(init, "init-binary", 11, 0755), CL_OK);
	assert_int_equal(cl_file_write_atomic(helper, "init-bundle-binary", 18, 0755), CL_OK);
	cl_image_input in = {src, "app/run"};
	cl_image_spec spec = {.name = "t", .version = "1", .entrypoint = "/app/run", .inputs = &in, .ninputs = 1};
	assert_int_equal(cl_image_build(&spec, img), CL_OK);
	cl_buf b;
	uint8_t d[48];
	cl_buf_init(&b, 1 << 20);
	assert_int_equal(cl_file_read(img, 1 << 20, &b), CL_OK);
	assert_int_equal(cl_sha384(b.data, b.len, d), CL_OK);
	cl_buf_free(&b);
	cl_hex_encode(d, 48, hex);
	cl_agent_measure *m = NULL;
	cl_pcrs p1, p2;
	static const uint8_t zero[CL_PCR_LEN];
	assert_int_equal(cl_agent_measure_new(init, helper, &m), CL_OK);
	assert_int_equal(cl_agent_measure_image(m, img, hex, &p1), CL_OK);
	assert_int_equal(cl_agent_measure_count(m), 1);
	assert_memory_not_equal(p1.v[0], zero, CL_PCR_LEN);
	uint8_t pcr1[CL_PCR_LEN] = {0}; /* init, then the helper */
	cl_pcr_extend(pcr1, "init-binary", 11);
	cl_pcr_extend(pcr1, "init-bundle-binary", 18);
	assert_memory_equal(p1.v[1], pcr1, CL_PCR_LEN);
	assert_memory_equal(p1.v[3], zero, CL_PCR_LEN);
	assert_int_equal(cl_agent_measure_image(m, img, hex, &p2), CL_OK);
	assert_int_equal(cl_agent_measure_count(m), 1); /* from the cache */
	assert_memory_equal(&p1, &p2, sizeof(p1));
	/* a file that is not the image its digest names */
	hex[0] = hex[0] == '0' ? '1' : '0';
	assert_int_equal(cl_agent_measure_image(m, img, hex, &p2), CL_EINVAL);
	/* the launch registers: PCR3 and PCR4, or PCR4 alone */
	p2 = p1;
	assert_true(cl_agent_measure_launch(&p2, "ten-1", "web", HOST));
	assert_memory_not_equal(p2.v[3], zero, CL_PCR_LEN);
	assert_memory_not_equal(p2.v[4], zero, CL_PCR_LEN);
	cl_pcrs p3 = p1;
	assert_false(cl_agent_measure_launch(&p3, "", "web", HOST));
	assert_memory_equal(p3.v[3], zero, CL_PCR_LEN);
	assert_memory_equal(p3.v[4], p2.v[4], CL_PCR_LEN);
	cl_agent_measure_free(m);
	snprintf(src, sizeof(src), "%s/missing", x->dir);
	assert_int_not_equal(cl_agent_measure_new(src, helper, &m), CL_OK);
	assert_int_not_equal(cl_agent_measure_new(init, src, &m), CL_OK); /* PCR1 needs the helper too */
	assert_null(m);
}

/* ---- the attest op ---- */

static json_t *run_kind(fx *x, const char *enc, const char *nonce, enum cl_agent_op_kind kind)
{
	cl_agent_op op;
	memset(&op, 0, sizeof(op));
	snprintf(op.op, sizeof(op.op), "op-1");
	snprintf(op.enclave, sizeof(op.enclave), "%s", enc);
	op.kind = kind;
	op.att = calloc(1, sizeof(*op.att));
	if (nonce) {
		op.att->has_nonce = true;
		op.att->nonce_len = strlen(nonce);
		memcpy(op.att->nonce, nonce, strlen(nonce));
	}
	json_t *r = cl_agent_att_op(x->att, x->dir, &op);
	cl_agent_op_clear(&op);
	assert_non_null(r);
	return r;
}

static json_t *run_op(fx *x, const char *enc, const char *nonce)
{
	return run_kind(x, enc, nonce, CL_OP_ATTEST);
}

/* The measure op: refused for an enclave that does not run here, and for
 * one whose sandbox cannot be paused; either way nothing is signed. */
static void measure_op_refused(void **state)
{
	fx *x = *state;
	char p[128];
	cl_pcrs pcrs;
	memset(&pcrs, 0, sizeof(pcrs));
	memset(pcrs.v[0], 0x10, CL_PCR_LEN);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	int before = x->keys.signs;
	json_t *r = run_kind(x, "enc-2", "n", CL_OP_MEASURE);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "does not run on this host"));
	json_decref(r);
	/* a sandbox directory and registers, but no live sandbox (no shim, no cgroup) */
	snprintf(p, sizeof(p), "%s/sandboxes/enc-2", x->dir);
	assert_int_equal(cl_mkdir_p(p, 0700), CL_OK);
	assert_int_equal(cl_agent_pcrs_save(x->dir, "enc-2", &pcrs), CL_OK);
	r = run_kind(x, "enc-2", "n", CL_OP_MEASURE);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "measure:"));
	json_decref(r);
	assert_int_equal(x->keys.signs, before);
	/* the attest op on the same enclave is answered: only measuring failed */
	r = run_kind(x, "enc-2", "n", CL_OP_ATTEST);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

static void attest_op(void **state)
{
	fx *x = *state;
	char p[128];
	cl_pcrs pcrs;
	memset(&pcrs, 0, sizeof(pcrs));
	memset(pcrs.v[0], 0x10, CL_PCR_LEN);
	/* an enclave that does not run here */
	json_t *r = run_op(x, "enc-1", "n");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "does not run on this host"));
	json_decref(r);
	snprintf(p, sizeof(p), "%s/sandboxes/enc-1", x->dir);
	assert_int_equal(cl_mkdir_p(p, 0700), CL_OK);
	/* no registers recorded */
	r = run_op(x, "enc-1", "n");
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "no measurements"));
	json_decref(r);
	assert_int_equal(cl_agent_pcrs_save(x->dir, "enc-1", &pcrs), CL_OK);
	/* no certificate yet */
	r = run_op(x, "enc-1", "n");
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "no_certificate");
	json_decref(r);
	assert_int_equal(x->keys.signs, 0);
	/* with one: a document signed by the key holder */
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	int before = x->keys.signs;
	r = run_op(x, "enc-1", "nonce-42");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "op")), "op-1");
	assert_int_equal(x->keys.signs, before + 1);
	cl_buf doc;
	cl_buf_init(&doc, CL_ATT_DOC_MAX);
	assert_int_equal(cl_base64_decode(json_string_value(json_object_get(r, "data")), &doc), CL_OK);
	json_decref(r);
	/* the document: this enclave, these registers, this nonce, under the test root */
	cl_att_doc *d = NULL;
	assert_int_equal(cl_att_parse(doc.data, doc.len, &d), CL_OK);
	cl_buf_free(&doc);
	assert_string_equal(d->module_id, "enc-1");
	assert_memory_equal(d->f.pcrs, pcrs.v, sizeof(pcrs.v));
	assert_int_equal(d->f.nonce.n, 8);
	assert_memory_equal(d->f.nonce.p, "nonce-42", 8);
	assert_null(d->f.user_data.p);
	assert_int_equal(d->f.ncabundle, 2);
	unsigned char *rder = NULL;
	int rlen = i2d_X509(root, &rder);
	cl_att_expect e = {.root_der = rder, .root_len = (size_t)rlen, .now = time(NULL), .pcr_mask = 1,
			   .nonce = (const uint8_t *)"nonce-42", .nonce_len = 8};
	memcpy(e.pcr[0], pcrs.v[0], CL_PCR_LEN);
	enum cl_att_check failed = CL_ATT_CHECK_NONE;
	if (cl_att_verify(d, &e, &failed) != CL_OK)
		fail_msg("verify: %s: %s", cl_att_check_name(failed), cl_error_detail());
	e.pcr[0][0] ^= 1; /* another PCR0 */
	assert_int_not_equal(cl_att_verify(d, &e, &failed), CL_OK);
	assert_int_equal(failed, CL_ATT_CHECK_PCR);
	OPENSSL_free(rder);
	cl_att_doc_free(d);
	/* the key holder down: a failure, not a hang */
	x->keys.down = true;
	r = run_op(x, "enc-1", "n");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

int main(void)
{
	evthread_use_pthreads();
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(measure_cached_per_digest),
	    T(attest_op),
	    T(measure_op_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
