/* Unit tests for the control plane's half of suspend (src/control/api_suspend.c,
 * docs/suspend.md "Suspend, step by step"): who may be suspended (step 1,
 * each refusal with its reason), the commit (step 11: the blob and its key
 * committed together, the enclave `suspended` and out of its host's
 * capacity, the previous blob's file removed; a suspend that is not the
 * pending one changes nothing), and a suspend op that ends without its
 * state stored (its job failed, its pending key dropped). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "common/util.h"
#include "control/control.h"
#include "control/ops_priv.h"
#include "control/state_blob.h"
#include "control/store_state.h"
#include "control/suspend.h"

#include "store_fixture.h"
#include "test_attest_fixture.h"

#define POLICY "{\"pcrs\":{\"0\":\"00\"}}"
#define SHA_X "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct world {
	fixture *f;
	ctl_server srv;
} world;

static int wsetup(void **state)
{
	void *fs = NULL;
	if (setup(&fs) != 0)
		return -1;
	world *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->f = fs;
	w->srv.store = w->f->st;
	w->srv.base = event_base_new();
	snprintf(w->srv.data_dir, sizeof(w->srv.data_dir), "%s", w->f->dir);
	ctl_host h = {.state = "ready", .level = "software", .memory_mib = 4096, .cpus = 4, .last_seen = 1,
		      .generation = 1, .id = "host-1", .name = "n-host-1"};
	h.caps_json = (char *)"{\"level\":\"software\"}";
	ctl_enclave e = {.id = "enc-1", .name = "one", .tenant_id = "ten-a", .image_id = "img-1", .host_id = "host-1",
			 .state = "running", .desired = "running", .memory_mib = 256, .cpus = 1,
			 .min_level = "software", .access_hash = "v1$k", .suspendable = true};
	ctl_enclave plain = e;
	snprintf(plain.id, sizeof(plain.id), "enc-2");
	snprintf(plain.name, sizeof(plain.name), "two");
	plain.suspendable = false;
	if (!w->srv.base || ctl_store_host_insert(w->f->st, &h) != CL_OK ||
	    ctl_store_enclave_insert(w->f->st, &e) != CL_OK || ctl_store_enclave_insert(w->f->st, &plain) != CL_OK)
		return -1;
	*state = w;
	return 0;
}

static int wteardown(void **state)
{
	world *w = *state;
	ctl_ops_shutdown(&w->srv);
	event_base_free(w->srv.base);
	void *fs = w->f;
	free(w);
	return teardown(&fs);
}

static ctl_enclave get(world *w, const char *id)
{
	ctl_enclave e;
	assert_int_equal(ctl_store_enclave_get(w->f->st, id, &e), CL_OK);
	return e;
}

static void set_state(world *w, const char *id, const char *state_)
{
	ctl_enclave e = get(w, id);
	snprintf(e.state, sizeof(e.state), "%s", state_);
	assert_int_equal(ctl_store_enclave_update(w->f->st, &e), CL_OK);
}

/* A job op of kind for enc-1, its job in the store; returns the op. */
static ctl_op *job_op(world *w, const char *kind)
{
	ctl_enclave e = get(w, "enc-1");
	ctl_job j;
	assert_int_equal(ctl_job_new(&w->srv, kind, &e, false, &j), CL_OK);
	assert_int_equal(ctl_op_submit_job(&w->srv, &e, kind, json_pack("{s:s}", "nonce", "AAAA"), j.id, -1, 0, "",
					   60000),
			 CL_OK);
	return w->srv.ops;
}

static void admit(void **state)
{
	world *w = *state;
	ctl_enclave e = get(w, "enc-1"), plain = get(w, "enc-2");
	assert_int_equal(ctl_suspend_admit(&w->srv, &e), CL_OK);
	assert_int_equal(ctl_suspend_admit(&w->srv, &plain), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "not_suspendable"));
	/* not running (on a ready host) */
	set_state(w, "enc-1", "pending");
	e = get(w, "enc-1");
	assert_int_equal(ctl_suspend_admit(&w->srv, &e), CL_EUNAVAIL);
	set_state(w, "enc-1", "suspended");
	e = get(w, "enc-1");
	assert_int_equal(ctl_suspend_admit(&w->srv, &e), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "already suspended"));
	set_state(w, "enc-1", "running");
	/* one provision, suspend or restore at a time */
	ctl_op *op = job_op(w, "provision");
	e = get(w, "enc-1");
	assert_int_equal(ctl_suspend_admit(&w->srv, &e), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "busy"));
	assert_non_null(strstr(cl_error_detail(), op->job_id));
}

/* Suspend n begun (pending), its blob written durable under the data dir. */
static void pending_with_blob(world *w, int64_t n, char rel[CTL_STATE_PATH_MAX], char sha[CTL_STATE_SHA_HEX + 1])
{
	uint8_t k[CTL_STATE_SEALED_LEN] = {(uint8_t)n}, doc[4] = {'d', (uint8_t)n};
	ctl_state_blob_w bw;
	uint8_t body[100];
	memset(body, (int)n, sizeof(body));
	assert_int_equal(ctl_store_state_begin(w->f->st, "enc-1", n, k, sizeof(k), POLICY, doc, sizeof(doc), n),
			 CL_OK);
	assert_int_equal(ctl_state_blob_open(w->f->dir, "enc-1", n, 1000, &bw), CL_OK);
	assert_int_equal(ctl_state_blob_write(&bw, body, sizeof(body)), CL_OK);
	snprintf(rel, CTL_STATE_PATH_MAX, "%s", bw.rel);
	/* the blob's own digest: finish checks it, so take it from a first pass */
	char want[CTL_STATE_SHA_HEX + 1];
	uint8_t d[48];
	assert_int_equal(cl_sha384(body, sizeof(body), d), CL_OK);
	cl_hex_encode(d, sizeof(d), want);
	assert_int_equal(ctl_state_blob_finish(&bw, sizeof(body), want, sha), CL_OK);
}

static bool exists(world *w, const char *rel)
{
	char p[PATH_MAX + 300];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", w->f->dir, rel);
	return stat(p, &st) == 0;
}

static void commit(void **state)
{
	world *w = *state;
	char rel1[CTL_STATE_PATH_MAX], rel2[CTL_STATE_PATH_MAX], sha[CTL_STATE_SHA_HEX + 1];
	ctl_state s;
	ctl_host h;
	assert_int_equal(ctl_store_host_get(w->f->st, "host-1", &h), CL_OK);
	int64_t used = h.mem_used_mib;
	ctl_host_clear(&h);
	pending_with_blob(w, 1, rel1, sha);
	/* not the pending suspend: nothing changes */
	assert_int_equal(ctl_suspend_commit(&w->srv, "enc-1", 2, 100, sha, rel1), CL_ECONFLICT);
	assert_string_equal(get(w, "enc-1").state, "running");
	assert_int_equal(ctl_store_state_get(w->f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.key_n, 0);
	/* the pending one: key and blob committed, the enclave suspended */
	assert_int_equal(ctl_suspend_commit(&w->srv, "enc-1", 1, 100, sha, rel1), CL_OK);
	ctl_enclave e = get(w, "enc-1");
	assert_string_equal(e.state, "suspended");
	assert_string_equal(e.desired, "suspended");
	assert_int_equal(ctl_store_state_get(w->f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.key_n, 1);
	assert_int_equal(s.pending_n, 0);
	assert_int_equal((int64_t)s.blob_size, 100);
	assert_string_equal(s.blob_path, rel1);
	assert_true(exists(w, rel1));
	/* its memory is no longer its host's */
	assert_int_equal(ctl_store_host_get(w->f->st, "host-1", &h), CL_OK);
	assert_int_equal(h.mem_used_mib, used - 256);
	ctl_host_clear(&h);
	/* a later suspend's commit removes the previous blob's file */
	set_state(w, "enc-1", "running");
	pending_with_blob(w, 2, rel2, sha);
	assert_int_equal(ctl_suspend_commit(&w->srv, "enc-1", 2, 100, sha, rel2), CL_OK);
	assert_false(exists(w, rel1));
	assert_true(exists(w, rel2));
	assert_int_equal(ctl_store_state_get(w->f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.key_n, 2);
}

/* A suspend op that ends before its blob committed fails its job and
 * drops its pending key; one that says "done" without a stored blob fails
 * too. */
static void op_ends_uncommitted(void **state)
{
	world *w = *state;
	ctl_state s;
	ctl_job j;
	uint8_t k[CTL_STATE_SEALED_LEN] = {1}, doc[2] = {'d'};
	ctl_op *op = job_op(w, "suspend");
	char op_id[CTL_ID_MAX], job_id[CTL_ID_MAX];
	snprintf(op_id, sizeof(op_id), "%s", op->id);
	snprintf(job_id, sizeof(job_id), "%s", op->job_id);
	assert_ptr_equal(ctl_op_job_find(&w->srv, "host-1", op_id), op);
	assert_null(ctl_op_job_find(&w->srv, "host-2", op_id));
	assert_int_equal(ctl_store_state_begin(w->f->st, "enc-1", 1, k, sizeof(k), POLICY, doc, sizeof(doc), 1), CL_OK);
	op->state_n = 1;
	assert_int_equal(ctl_op_complete(&w->srv, "host-1", op_id, false, NULL, "killed", NULL), CL_OK);
	assert_int_equal(ctl_store_job_get(w->f->st, job_id, &j), CL_OK);
	assert_string_equal(j.state, "failed");
	assert_int_equal(ctl_store_state_get(w->f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.pending_n, 0); /* its key is gone */
	assert_int_equal(s.counter, 1);   /* its number stays spent */
	/* "done" without the blob committed */
	op = job_op(w, "suspend");
	snprintf(op_id, sizeof(op_id), "%s", op->id);
	snprintf(job_id, sizeof(job_id), "%s", op->job_id);
	assert_int_equal(ctl_store_state_begin(w->f->st, "enc-1", 2, k, sizeof(k), POLICY, doc, sizeof(doc), 1), CL_OK);
	op->state_n = 2;
	assert_int_equal(ctl_op_complete(&w->srv, "host-1", op_id, true, NULL, NULL, NULL), CL_OK);
	assert_int_equal(ctl_store_job_get(w->f->st, job_id, &j), CL_OK);
	assert_string_equal(j.state, "failed");
	assert_non_null(strstr(j.error, "before its state was stored"));
	assert_int_equal(ctl_store_state_get(w->f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.pending_n, 0);
	assert_string_equal(get(w, "enc-1").state, "running");
}

/* enc-1 suspended with blob n=1 of size bytes, its suspend document
 * (PCRi = i repeated, PCR7 = pcr7 repeated) stored with it. */
static void suspended(world *w, uint64_t size, uint8_t pcr7)
{
	fx_chain c;
	cl_att_fields f;
	uint8_t *raw = NULL, k[CTL_STATE_SEALED_LEN] = {1};
	size_t rawlen = 0;
	fx_chain_make(&c, &(fx_opts){0});
	fx_fields(&f, &c, NULL, 0);
	memset(f.pcrs[7], pcr7, CL_ATT_PCR_LEN);
	assert_int_equal(cl_att_build(&f, fx_sign, c.leaf_key, &raw, &rawlen), CL_OK);
	assert_int_equal(ctl_store_state_begin(w->f->st, "enc-1", 1, k, sizeof(k), POLICY, raw, rawlen, 1), CL_OK);
	assert_int_equal(ctl_suspend_commit(&w->srv, "enc-1", 1, size, SHA_X, "state/enc-1.1.blob"), CL_OK);
	free(raw);
	fx_chain_free(&c);
}

static void restore_admit(void **state)
{
	world *w = *state;
	ctl_state *st = calloc(1, sizeof(*st));
	assert_non_null(st);
	ctl_enclave e = get(w, "enc-1");
	assert_int_equal(ctl_restore_admit(&w->srv, &e, st), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "not_suspended"));
	/* /tmp is 64 MiB: 3 x 21 MiB + 1 MiB fits, 3 x 22 MiB does not */
	suspended(w, 21ull << 20, 0);
	e = get(w, "enc-1");
	assert_int_equal(ctl_restore_admit(&w->srv, &e, st), CL_OK);
	assert_int_equal(st->key_n, 1);
	/* restored since: its state is kept, but it is not suspended */
	ctl_enclave run = e;
	snprintf(run.state, sizeof(run.state), "running");
	snprintf(run.desired, sizeof(run.desired), "running");
	assert_int_equal(ctl_restore_admit(&w->srv, &run, st), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "not_suspended: the enclave is running"));
	e.memory_mib = 255;
	assert_int_equal(ctl_restore_admit(&w->srv, &e, st), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "too_large"));
	assert_non_null(strstr(cl_error_detail(), "memory_mib >= 256"));
	/* one job op at a time */
	e = get(w, "enc-1");
	ctl_op *op = job_op(w, "suspend");
	assert_int_equal(ctl_restore_admit(&w->srv, &e, st), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "busy"));
	/* a suspend whose job ended at its commit (api_suspend.c), its op only
	 * awaiting the host's result: a client that saw the job end may restore */
	op->job_ended = true;
	assert_int_equal(ctl_restore_admit(&w->srv, &e, st), CL_OK);
	free(st);
}

static void restore_place(void **state)
{
	world *w = *state;
	char host[CTL_ID_MAX] = "";
	ctl_host lost = {.state = "lost", .level = "software", .memory_mib = 4096, .cpus = 4, .last_seen = 1,
			 .generation = 1, .id = "host-2", .name = "n-host-2"};
	lost.caps_json = (char *)"{\"level\":\"software\"}";
	assert_int_equal(ctl_store_host_insert(w->f->st, &lost), CL_OK);
	ctl_enclave e = get(w, "enc-1");
	assert_int_equal(ctl_restore_place(&w->srv, &e, NULL, host), CL_OK);
	assert_string_equal(host, "host-1");
	assert_int_equal(ctl_restore_place(&w->srv, &e, "host-1", host), CL_OK);
	assert_int_equal(ctl_restore_place(&w->srv, &e, "host-9", host), CL_ENOTFOUND);
	assert_int_equal(ctl_restore_place(&w->srv, &e, "host-2", host), CL_EUNAVAIL); /* not ready */
	e.memory_mib = 8192; /* the create's constraints: memory */
	assert_int_equal(ctl_restore_place(&w->srv, &e, NULL, host), CL_EUNAVAIL);
	e.memory_mib = 256;
	snprintf(e.min_level, sizeof(e.min_level), "sgx"); /* and level */
	assert_int_equal(ctl_restore_place(&w->srv, &e, "host-1", host), CL_EUNAVAIL);
}

/* The restore's answer: PCR7 must be the suspend document's; then the
 * enclave runs. A failure puts it back to suspended. */
static void restore_finish(void **state)
{
	world *w = *state;
	uint8_t pcr7[CL_ATT_PCR_LEN];
	char *b64 = NULL;
	suspended(w, 100, 0x77);
	ctl_enclave e = get(w, "enc-1");
	snprintf(e.desired, sizeof(e.desired), "restoring");
	snprintf(e.state, sizeof(e.state), "running");
	assert_int_equal(ctl_store_enclave_update(w->f->st, &e), CL_OK);
	memset(pcr7, 0x76, sizeof(pcr7));
	assert_int_equal(cl_base64_encode(pcr7, sizeof(pcr7), &b64), CL_OK);
	assert_int_equal(ctl_restore_finish(&w->srv, "enc-1", b64), CL_EPERM);
	assert_non_null(strstr(cl_error_detail(), "pcr_mismatch: PCR7"));
	free(b64);
	assert_string_equal(get(w, "enc-1").desired, "restoring"); /* the op's end reverts it */
	assert_int_equal(ctl_restore_finish(&w->srv, "enc-1", "AAAA"), CL_EPROTO);
	memset(pcr7, 0x77, sizeof(pcr7));
	assert_int_equal(cl_base64_encode(pcr7, sizeof(pcr7), &b64), CL_OK);
	assert_int_equal(ctl_restore_finish(&w->srv, "enc-1", b64), CL_OK);
	free(b64);
	e = get(w, "enc-1");
	assert_string_equal(e.state, "running");
	assert_string_equal(e.desired, "running");
	/* a failed restore op: back to suspended, blob and key untouched */
	snprintf(e.desired, sizeof(e.desired), "restoring");
	assert_int_equal(ctl_store_enclave_update(w->f->st, &e), CL_OK);
	ctl_op *op = job_op(w, "restore");
	char op_id[CTL_ID_MAX];
	snprintf(op_id, sizeof(op_id), "%s", op->id);
	assert_int_equal(ctl_op_complete(&w->srv, "host-1", op_id, false, NULL, "decrypt_failed", NULL), CL_OK);
	e = get(w, "enc-1");
	assert_string_equal(e.state, "suspended");
	assert_string_equal(e.desired, "suspended");
	assert_non_null(strstr(e.error, "decrypt_failed"));
	ctl_state s;
	assert_int_equal(ctl_store_state_get(w->f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.key_n, 1);
	/* a restart's recovery does the same for one left restoring */
	snprintf(e.desired, sizeof(e.desired), "restoring");
	assert_int_equal(ctl_store_enclave_update(w->f->st, &e), CL_OK);
	int n = 0;
	assert_int_equal(ctl_store_state_unrestore_all(w->f->st, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(get(w, "enc-1").desired, "suspended");
}

static void blob_max(void **state)
{
	(void)state;
	ctl_enclave e = {.memory_mib = 64};
	assert_int_equal(ctl_suspend_blob_max(&e), 16ull << 20); /* a quarter of its memory */
	e.memory_mib = 4096;
	assert_true(ctl_suspend_blob_max(&e) < 66ull << 20); /* the format's cap */
	assert_true(ctl_suspend_blob_max(&e) > 64ull << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(admit, wsetup, wteardown),
		cmocka_unit_test_setup_teardown(commit, wsetup, wteardown),
		cmocka_unit_test_setup_teardown(op_ends_uncommitted, wsetup, wteardown),
		cmocka_unit_test_setup_teardown(restore_admit, wsetup, wteardown),
		cmocka_unit_test_setup_teardown(restore_place, wsetup, wteardown),
		cmocka_unit_test_setup_teardown(restore_finish, wsetup, wteardown),
		cmocka_unit_test(blob_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
