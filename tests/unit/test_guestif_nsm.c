/* test_guestif_nsm.c — the secure module's wire format (guestif_nsm.c) and
 * the gate's side of it (guestif_gate.c), without a device model:
 *   - frames: the length header (incomplete, zero, over the cap);
 *   - requests: ATTEST with every field present, absent, at and over its
 *     cap; SEAL_KEY labels 0/1/64/65 bytes; unknown types; every truncation
 *     and a trailing byte refused; details never quote the input; encode
 *     then parse gives the same request;
 *   - queries to the gate: round trips, bad enclave ids, caps;
 *   - the gate driven like a compromised process would: an enclave it does
 *     not serve, no hooks yet (unavailable), the hooks get exactly the
 *     enclave's fields, SEAL_KEY waits for the tenant, the per-enclave
 *     bucket (burst, then limited; another enclave unaffected).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/ipc.h"
#include "common/util.h"
#include "guestif/guestif.h"

/* ---- frames and requests ---- */

static size_t frame(uint8_t *out, const uint8_t *payload, size_t n)
{
	out[0] = (uint8_t)(n >> 24), out[1] = (uint8_t)(n >> 16), out[2] = (uint8_t)(n >> 8), out[3] = (uint8_t)n;
	memcpy(out + 4, payload, n);
	return 4 + n;
}

static void frame_lengths(void **state)
{
	uint8_t b[8] = {0, 0, 0, 9, 1};
	size_t total = 99;
	assert_int_equal(cl_nsm_frame_len(b, 3, &total), CL_OK);
	assert_int_equal(total, 0); /* header incomplete */
	assert_int_equal(cl_nsm_frame_len(b, 4, &total), CL_OK);
	assert_int_equal(total, 13);
	b[3] = 0;
	assert_int_equal(cl_nsm_frame_len(b, 4, &total), CL_EINVAL);
	uint32_t n = CL_NSM_REQ_MAX;
	b[0] = 0, b[1] = 0, b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
	assert_int_equal(cl_nsm_frame_len(b, 4, &total), CL_OK);
	assert_int_equal(total, 4 + CL_NSM_REQ_MAX);
	n++;
	b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
	assert_int_equal(cl_nsm_frame_len(b, 4, &total), CL_ETOOBIG);
	b[0] = 0xff;
	assert_int_equal(cl_nsm_frame_len(b, 4, &total), CL_ETOOBIG);
}

static uint8_t big[4096];

/* ATTEST payload with fields of the given lengths (bytes 'N', 'U', 'P'). */
static size_t attest_payload(uint8_t *p, size_t nl, size_t ul, size_t pl)
{
	size_t k = 0, l[3] = {nl, ul, pl};
	const char fill[3] = {'N', 'U', 'P'};
	p[k++] = CL_NSM_ATTEST;
	for (int i = 0; i < 3; i++) {
		p[k++] = (uint8_t)(l[i] >> 8), p[k++] = (uint8_t)l[i];
		memset(p + k, fill[i], l[i]);
		k += l[i];
	}
	return k;
}

static void requests(void **state)
{
	cl_nsm_req r;
	size_t n = attest_payload(big, 5, 0, 97);
	assert_int_equal(cl_nsm_parse(big, n, &r), CL_OK);
	assert_int_equal(r.type, CL_NSM_ATTEST);
	assert_int_equal(r.nonce_len, 5);
	assert_memory_equal(r.nonce, "NNNNN", 5);
	assert_int_equal(r.user_data_len, 0);
	assert_null(r.user_data);
	assert_int_equal(r.public_key_len, 97);
	assert_true(r.public_key[0] == 'P' && r.public_key[96] == 'P');
	/* at the caps, and one over each */
	n = attest_payload(big, CL_NSM_NONCE_MAX, CL_NSM_USER_DATA_MAX, CL_NSM_PUBKEY_MAX);
	assert_int_equal(n, CL_NSM_REQ_MAX);
	assert_int_equal(cl_nsm_parse(big, n, &r), CL_OK);
	n = attest_payload(big, CL_NSM_NONCE_MAX + 1, 0, 0);
	assert_int_equal(cl_nsm_parse(big, n, &r), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "nonce longer than 512"));
	n = attest_payload(big, 0, CL_NSM_USER_DATA_MAX + 1, 0);
	assert_int_equal(cl_nsm_parse(big, n, &r), CL_EINVAL);
	n = attest_payload(big, 0, 0, CL_NSM_PUBKEY_MAX + 1);
	assert_int_equal(cl_nsm_parse(big, n, &r), CL_EINVAL);
	/* every truncation, and a trailing byte */
	n = attest_payload(big, 3, 4, 5);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(cl_nsm_parse(big, cut, &r), CL_EINVAL);
	big[n] = 0;
	assert_int_equal(cl_nsm_parse(big, n + 1, &r), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "trailing"));
	/* SEAL_KEY: 1..64 bytes of label, any bytes */
	uint8_t s[2 + 65] = {CL_NSM_SEAL_KEY, 1, 0};
	assert_int_equal(cl_nsm_parse(s, 3, &r), CL_OK);
	assert_int_equal(r.type, CL_NSM_SEAL_KEY);
	assert_int_equal(r.label_len, 1);
	assert_int_equal(r.label[0], 0);
	s[1] = 64;
	memset(s + 2, 'L', 64);
	assert_int_equal(cl_nsm_parse(s, 66, &r), CL_OK);
	assert_int_equal(cl_nsm_parse(s, 65, &r), CL_EINVAL);
	s[1] = 65;
	assert_int_equal(cl_nsm_parse(s, 67, &r), CL_EINVAL);
	s[1] = 0;
	assert_int_equal(cl_nsm_parse(s, 2, &r), CL_EINVAL);
	/* unknown types, empty */
	uint8_t t[2] = {0, 0};
	assert_int_equal(cl_nsm_parse(t, 1, &r), CL_EINVAL);
	t[0] = 3;
	assert_int_equal(cl_nsm_parse(t, 1, &r), CL_EINVAL);
	assert_int_equal(cl_nsm_parse(t, 0, &r), CL_EINVAL);
	/* a refusal never quotes the request */
	n = attest_payload(big, 0, 0, 0);
	memcpy(big + n, "SECRET-MARK", 11);
	assert_int_equal(cl_nsm_parse(big, n + 11, &r), CL_EINVAL);
	assert_null(strstr(cl_error_detail(), "SECRET"));
}

static void encode_answers(void **state)
{
	cl_buf b;
	cl_nsm_req r = {.type = CL_NSM_ATTEST, .nonce = (const uint8_t *)"abc", .nonce_len = 3},
		   back;
	uint8_t frame_bytes[64];
	size_t total;
	cl_buf_init(&b, 1 << 16);
	assert_int_equal(cl_nsm_encode(&r, &b), CL_OK);
	assert_int_equal(cl_nsm_frame_len(b.data, b.len, &total), CL_OK);
	assert_int_equal(total, b.len);
	assert_int_equal(cl_nsm_parse(b.data + 4, b.len - 4, &back), CL_OK);
	assert_int_equal(back.nonce_len, 3);
	assert_memory_equal(back.nonce, "abc", 3);
	assert_int_equal(back.user_data_len + back.public_key_len, 0);
	cl_buf_reset(&b);
	cl_nsm_req sk = {.type = CL_NSM_SEAL_KEY, .label = (const uint8_t *)"db", .label_len = 2};
	assert_int_equal(cl_nsm_encode(&sk, &b), CL_OK);
	assert_int_equal(cl_nsm_parse(b.data + 4, b.len - 4, &back), CL_OK);
	assert_int_equal(back.label_len, 2);
	sk.label_len = 0;
	cl_buf_reset(&b);
	assert_int_equal(cl_nsm_encode(&sk, &b), CL_EINVAL);
	/* answers: u32 length (status + body), status, body */
	cl_buf_reset(&b);
	assert_int_equal(cl_nsm_format(CL_NSM_RATE_LIMITED, "slow", 4, &b), CL_OK);
	assert_int_equal(b.len, 9);
	assert_memory_equal(b.data, "\0\0\0\5\2slow", 9);
	cl_buf_reset(&b);
	assert_int_equal(cl_nsm_format(CL_NSM_OK, big, CL_NSM_ANSWER_MAX + 1, &b), CL_ETOOBIG);
	cl_buf_free(&b);
	(void)frame(frame_bytes, (const uint8_t *)"x", 1);
}

static void queries(void **state)
{
	cl_buf b, in;
	cl_nsm_q q;
	cl_nsm_req r = {.type = CL_NSM_ATTEST,
			.user_data = (const uint8_t *)"ud",
			.user_data_len = 2,
			.public_key = (const uint8_t *)"pk!",
			.public_key_len = 3};
	cl_buf_init(&b, CL_GUESTIF_IPC_MAX);
	assert_int_equal(cl_nsm_q_encode("enc-a", &r, &b), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_nsm_q_decode(CL_GUESTIF_Q_ATTEST, &in, &q), CL_OK);
	assert_int_equal(cl_ipc_get_end(&in), CL_OK);
	assert_string_equal(q.enclave, "enc-a");
	assert_int_equal(q.req.nonce_len, 0);
	assert_null(q.req.nonce);
	assert_memory_equal(q.req.user_data, "ud", 2);
	assert_memory_equal(q.req.public_key, "pk!", 3);
	/* the type decides the layout: an ATTEST payload is not a SEAL */
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_nsm_q_decode(CL_GUESTIF_Q_SEAL, &in, &q) == CL_OK && cl_ipc_get_end(&in) == CL_OK, 0);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_nsm_q_decode(CL_GUESTIF_Q_WRITE, &in, &q), CL_EINVAL);
	/* bad ids */
	assert_int_equal(cl_nsm_q_encode("../x", &r, &b), CL_EINVAL);
	cl_buf_reset(&b);
	assert_int_equal(cl_ipc_put_str(&b, "ENC-A"), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(&b, NULL, 0), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(&b, NULL, 0), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(&b, NULL, 0), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_nsm_q_decode(CL_GUESTIF_Q_ATTEST, &in, &q), CL_EINVAL);
	/* caps at the gate as at the socket */
	cl_buf_reset(&b);
	assert_int_equal(cl_ipc_put_str(&b, "enc-a"), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(&b, big, CL_NSM_NONCE_MAX + 1), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_nsm_q_decode(CL_GUESTIF_Q_ATTEST, &in, &q), CL_EINVAL);
	cl_buf_reset(&b);
	assert_int_equal(cl_ipc_put_str(&b, "enc-a"), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(&b, NULL, 0), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_nsm_q_decode(CL_GUESTIF_Q_SEAL, &in, &q), CL_EINVAL); /* empty label */
	cl_buf_free(&b);
}

/* ---- the gate ---- */

typedef struct hook_log {
	int attests, seals;
	char id[64], tenant[64];
	uint8_t nonce[CL_NSM_NONCE_MAX], pk[CL_NSM_PUBKEY_MAX];
	size_t nonce_len, ud_len, pk_len;
} hook_log;

static cl_err fake_attest(void *ctx, const char *id, const cl_nsm_req *r, uint8_t **doc, size_t *len)
{
	hook_log *h = ctx;
	h->attests++;
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->nonce_len = r->nonce_len;
	h->ud_len = r->user_data_len;
	h->pk_len = r->public_key_len;
	if (r->nonce_len)
		memcpy(h->nonce, r->nonce, r->nonce_len);
	if (r->public_key_len)
		memcpy(h->pk, r->public_key, r->public_key_len);
	*doc = malloc(3);
	memcpy(*doc, "DOC", 3);
	*len = 3;
	return CL_OK;
}

static cl_err fake_seal(void *ctx, const char *id, const char *tenant, const uint8_t *label, size_t n,
			uint8_t key[CL_NSM_KEY_LEN])
{
	hook_log *h = ctx;
	h->seals++;
	snprintf(h->tenant, sizeof(h->tenant), "%s", tenant);
	memset(key, (int)n, CL_NSM_KEY_LEN);
	return CL_OK;
}

typedef struct gw {
	char base[64];
	cl_guestif *g;
	cl_ipc_client q;
	cl_ipc_server ctl;
	int fds[2];
	pthread_t t;
} gw;

static cl_err ctl_dec(cl_buf *req, void *args)
{
	char id[CL_GUESTIF_ID_MAX + 2];
	uint8_t socks;
	CL_GUARD(cl_ipc_get_str(req, id, sizeof(id)));
	if (req->pos < req->len)
		CL_GUARD(cl_buf_get_u8(req, &socks));
	return CL_OK;
}

static cl_err ctl_run(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	gw *w = ctx;
	for (int i = 0; i < 2; i++) {
		int fd = cl_ipc_server_take_fd(&w->ctl, (size_t)i);
		if (fd >= 0)
			close(fd);
	}
	return CL_OK;
}

static const cl_ipc_handler ctl_handlers[] = {
	{CL_GUESTIF_C_ADD, "add", 128, ctl_dec, ctl_run, 2},
	{CL_GUESTIF_C_REMOVE, "remove", 128, ctl_dec, ctl_run, 0},
};

static void *ctl_thread(void *arg)
{
	gw *w = arg;
	while (cl_ipc_server_serve_one(&w->ctl) == CL_OK)
		;
	return NULL;
}

static cl_err ask(gw *w, uint16_t type, const char *id, const cl_nsm_req *r, cl_buf *ans)
{
	cl_buf req;
	cl_buf_init(&req, CL_GUESTIF_IPC_MAX);
	cl_err e = cl_nsm_q_encode(id, r, &req);
	if (e == CL_OK)
		e = cl_ipc_call(&w->q, type, &req, ans);
	cl_buf_free(&req);
	return e;
}

static void gate(void **state)
{
	gw w;
	hook_log h;
	int q[2], c[2];
	cl_buf ans;
	memset(&w, 0, sizeof(w));
	memset(&h, 0, sizeof(h));
	snprintf(w.base, sizeof(w.base), "/tmp/cl-nsm.XXXXXX");
	assert_non_null(mkdtemp(w.base));
	assert_int_equal(cl_ipc_pair(q), CL_OK);
	assert_int_equal(cl_ipc_pair(c), CL_OK);
	cl_ipc_client_init(&w.q, q[1], CL_GUESTIF_IPC_MAX, 5000);
	cl_ipc_server_init(&w.ctl, c[1], "test/control", ctl_handlers, 2, CL_GUESTIF_IPC_MAX, &w);
	cl_guestif_opts o = {.nsm_rate = 1, .nsm_burst = 3};
	assert_int_equal(cl_guestif_gate_new(NULL, w.base, &o, q[0], c[0], &w.g), CL_OK); /* no firmware guard */
	assert_int_equal(pthread_create(&w.t, NULL, ctl_thread, &w), 0);
	char dir[256], path[300];
	assert_int_equal(cl_guestif_add(w.g, "enc-a", dir, sizeof(dir)), CL_OK);
	assert_int_equal(cl_guestif_add(w.g, "enc-b", NULL, 0), CL_OK);
	snprintf(path, sizeof(path), "%s/nsm.sock", dir);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/fw.sock", dir);
	assert_int_not_equal(access(path, F_OK), 0); /* no guard: no fw.sock */
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	cl_nsm_req r = {.type = CL_NSM_ATTEST, .nonce = (const uint8_t *)"n1", .nonce_len = 2,
			.public_key = (const uint8_t *)"KEY", .public_key_len = 3};
	cl_nsm_req sk = {.type = CL_NSM_SEAL_KEY, .label = (const uint8_t *)"l", .label_len = 1};

	/* no hooks yet: unavailable (after the bucket: enc-a has 3 tokens) */
	assert_int_equal(ask(&w, CL_GUESTIF_Q_ATTEST, "enc-a", &r, &ans), CL_EUNAVAIL);
	/* an enclave the gate does not serve */
	cl_guestif_nsm_hooks hk = {.attest = fake_attest, .seal_key = fake_seal, .ctx = &h};
	cl_guestif_set_nsm(w.g, &hk);
	assert_int_equal(ask(&w, CL_GUESTIF_Q_ATTEST, "enc-x", &r, &ans), CL_EPERM);
	assert_int_equal(h.attests, 0);
	/* firmware queries on a host without a guard */
	cl_buf req;
	cl_buf_init(&req, 256);
	assert_int_equal(cl_ipc_put_str(&req, "enc-a"), CL_OK);
	assert_int_equal(cl_ipc_call(&w.q, CL_GUESTIF_Q_LIST, &req, &ans), CL_EPERM);
	cl_buf_free(&req);
	/* the hook gets exactly the enclave's fields */
	assert_int_equal(ask(&w, CL_GUESTIF_Q_ATTEST, "enc-a", &r, &ans), CL_OK);
	assert_int_equal(h.attests, 1);
	assert_string_equal(h.id, "enc-a");
	assert_int_equal(h.nonce_len, 2);
	assert_memory_equal(h.nonce, "n1", 2);
	assert_int_equal(h.ud_len, 0);
	assert_int_equal(h.pk_len, 3);
	assert_memory_equal(h.pk, "KEY", 3);
	const uint8_t *doc;
	size_t dl;
	assert_int_equal(cl_ipc_get_bytes(&ans, 100, &doc, &dl), CL_OK);
	assert_int_equal(dl, 3);
	assert_memory_equal(doc, "DOC", 3);
	/* SEAL_KEY waits for the tenant */
	assert_int_equal(ask(&w, CL_GUESTIF_Q_SEAL, "enc-a", &sk, &ans), CL_EUNAVAIL); /* enc-a's third token */
	assert_int_equal(h.seals, 0);
	cl_guestif_set_tenant(w.g, "enc-b", "ten-1");
	cl_guestif_set_tenant(w.g, "enc-b", "BAD TENANT"); /* ignored */
	cl_guestif_set_tenant(w.g, "enc-z", "ten-1");      /* not served: ignored */
	assert_int_equal(ask(&w, CL_GUESTIF_Q_SEAL, "enc-b", &sk, &ans), CL_OK);
	assert_int_equal(h.seals, 1);
	assert_string_equal(h.tenant, "ten-1");
	assert_int_equal(ans.len, CL_NSM_KEY_LEN);
	/* the buckets: enc-a's is empty (limited, the hook not called), enc-b's
	 * runs out after its burst (one token a second may come back meanwhile) */
	assert_int_equal(ask(&w, CL_GUESTIF_Q_ATTEST, "enc-a", &r, &ans), CL_ELIMIT);
	assert_int_equal(h.attests, 1);
	int ok = 1, tries = 0;
	cl_err e;
	while ((e = ask(&w, CL_GUESTIF_Q_SEAL, "enc-b", &sk, &ans)) == CL_OK && ++tries < 10)
		ok++;
	assert_int_equal(e, CL_ELIMIT);
	assert_true(ok >= 3 && ok < 10);
	assert_int_equal(h.seals, ok);
	cl_buf_free(&ans);
	cl_guestif_remove(w.g, "enc-a");
	cl_guestif_stop(w.g);
	close(q[1]);
	close(c[1]);
	pthread_join(w.t, NULL);
	assert_int_equal(cl_rm_rf(w.base), CL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_lengths), cmocka_unit_test(requests), cmocka_unit_test(encode_answers),
		cmocka_unit_test(queries),       cmocka_unit_test(gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
