/* Unit tests for the host's attestation certificate: the request and its
 * checks (src/host/agent_attest.c) against a fake control plane that
 * verifies the proof of possession and issues leaves from a test CA, and
 * the registers kept with an enclave (src/host/agent_pcrs.c). No real
 * control plane: the fixture is test_agent_attest.h. */
#include "test_agent_attest.h"

/* ---------------------------------------------------------------- tests */

/* The proof signs exactly label 0 host 0 point. */
static void pop_digest(void **state)
{
	uint8_t point[97], got[48], want[48], m[200];
	for (int i = 0; i < 97; i++)
		point[i] = (uint8_t)(i * 7);
	assert_int_equal(cl_agent_att_pop_digest("host-9", point, got), CL_OK);
	memcpy(m, "cloister-attest-pop/1", 21);
	m[21] = 0;
	memcpy(m + 22, "host-9", 6);
	m[28] = 0;
	memcpy(m + 29, point, 97);
	SHA384(m, 29 + 97, want);
	assert_memory_equal(got, want, 48);
	assert_int_equal(cl_agent_att_pop_digest("host-8", point, got), CL_OK);
	assert_memory_not_equal(got, want, 48);
}

/* At start with no key and no certificate: the key is made, the proof
 * checks out at the control plane, the certificate is kept (0644) and
 * loaded again by the next start; an answer naming it asks nothing. */
static void provisions_at_start(void **state)
{
	fx *x = *state;
	char serial[CL_AGENT_SERIAL_MAX];
	cl_agent_att_serial(x->att, serial);
	assert_string_equal(serial, "");
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	assert_int_equal(x->keys.gens, 1);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 1);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.proofs_ok), 1);
	assert_string_equal(x->ctl.path, "/v1/hosts/" HOST "/attestation-key");
	cl_agent_att_serial(x->att, serial);
	assert_string_equal(serial, "1001");
	file_mode(x, "cert.der", 0644);
	file_mode(x, "bundle.der", 0644);
	cl_agent_att_chain ch;
	assert_int_equal(cl_agent_att_chain_get(x->att, &ch), CL_OK);
	assert_int_equal(ch.n, 2); /* root, intermediate */
	X509 *l = d2i_X509(NULL, &(const unsigned char *){ch.leaf}, (long)ch.leaf_len);
	assert_non_null(l);
	assert_int_equal(X509_verify(l, inter_key), 1);
	X509_free(l);
	cl_agent_att_chain_free(&ch);

	/* the answer names it: nothing to do; absent: nothing either */
	cl_agent_answer a = answer_with(CL_ATT_SERIAL_SET, "1001");
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	a = answer_with(CL_ATT_SERIAL_ABSENT, NULL);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 1);

	/* a restart loads it and, with the same key, asks nothing */
	cl_agent_att_free(x->att);
	assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
	cl_agent_att_serial(x->att, serial);
	assert_string_equal(serial, "1001");
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 1);
	/* the control plane has none valid (a lost host back) or names another: ask again */
	a = answer_with(CL_ATT_SERIAL_NULL, NULL);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 2);
	cl_agent_att_serial(x->att, serial);
	assert_string_equal(serial, "1002");
	assert_int_equal(x->keys.gens, 1); /* the same key, re-certified */
	cl_agent_att_free(x->att);
	assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
	a = answer_with(CL_ATT_SERIAL_SET, "ffff");
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 3);
}

/* A certificate held for another key (the key holder's key was lost and
 * made anew) is dropped at start and asked for again. */
static void held_for_another_key(void **state)
{
	fx *x = *state;
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	EVP_PKEY_free(x->keys.key);
	x->keys.key = NULL; /* gone: generated anew */
	cl_agent_att_free(x->att);
	assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	assert_int_equal(x->keys.gens, 2);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 2);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.proofs_ok), 2);
}

/* Failures are retried after a growing delay, not at every round; the long
 * poll is shortened to come back when a retry is due. */
static void retry_with_delay(void **state)
{
	fx *x = *state;
	ctl_set(&x->ctl, 503, ISSUE_GOOD);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_EUNAVAIL);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 1);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_EUNAVAIL); /* not due */
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 1);
	uint32_t w = cl_agent_att_wait_ms(x->att, 25000);
	assert_true(w <= CL_AGENT_ATT_RETRY_MIN_MS + 1);
	ctl_set(&x->ctl, 200, ISSUE_GOOD);
	uint64_t end = cl_now_mono_ns() + 10000000000ull;
	while (cl_agent_att_step(x->att, x->http, HOST, NULL) != CL_OK) {
		assert_true(cl_now_mono_ns() < end);
		usleep(20000);
	}
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 2);
	assert_int_equal(cl_agent_att_wait_ms(x->att, 25000), 25000); /* nothing pending */
	/* a key holder that does not answer is a failure too, never a hang */
	cl_agent_att_free(x->att);
	x->keys.down = true;
	assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
	cl_agent_answer a = answer_with(CL_ATT_SERIAL_NULL, NULL);
	assert_int_not_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 2);
}

/* A control plane without the route (404) is not asked again until its
 * answers carry attestation_serial. */
static void control_plane_without_attestation(void **state)
{
	fx *x = *state;
	ctl_set(&x->ctl, 404, ISSUE_GOOD);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_ENOTFOUND);
	cl_agent_answer a = answer_with(CL_ATT_SERIAL_ABSENT, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	assert_int_equal(cl_agent_att_wait_ms(x->att, 25000), 25000);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 1);
	ctl_set(&x->ctl, 200, ISSUE_GOOD);
	a = answer_with(CL_ATT_SERIAL_NULL, NULL);
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, &a), CL_OK);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 2);
}

/* Answers that must not be kept: a leaf for another key, from another CA,
 * with another serial than said, not base64, too many CA certificates. */
static void bad_answers_change_nothing(void **state)
{
	fx *x = *state;
	int modes[] = {ISSUE_OTHER_KEY, ISSUE_OTHER_CA, ISSUE_WRONG_SERIAL, ISSUE_GARBAGE, ISSUE_BIG_BUNDLE};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ctl_set(&x->ctl, 200, modes[i]);
		cl_agent_att_free(x->att); /* a fresh start: no retry delay */
		assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
		assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_EPROTO);
		char serial[CL_AGENT_SERIAL_MAX], p[128];
		cl_agent_att_serial(x->att, serial);
		assert_string_equal(serial, "");
		snprintf(p, sizeof(p), "%s/attest/cert.der", x->dir);
		assert_int_not_equal(access(p, F_OK), 0);
	}
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.posts), 5);
	/* cl_agent_att_accept directly: not JSON, no cabundle */
	uint8_t pt[97];
	point_of(x->keys.key, pt);
	assert_int_equal(cl_agent_att_accept(x->att, pt, "nope", 4), CL_EPROTO);
	const char *j = "{\"certificate\":\"AAAA\",\"serial\":\"1\"}";
	assert_int_equal(cl_agent_att_accept(x->att, pt, j, strlen(j)), CL_EPROTO);
}

/* A cert.der and bundle.der that do not belong together are not loaded. */
static void inconsistent_files_ignored(void **state)
{
	fx *x = *state;
	assert_int_equal(cl_agent_att_step(x->att, x->http, HOST, NULL), CL_OK);
	char p[128];
	unsigned char *der = NULL;
	int n = i2d_X509(other_ca, &der);
	snprintf(p, sizeof(p), "%s/attest/bundle.der", x->dir);
	assert_int_equal(cl_file_write_atomic(p, der, (size_t)n, 0644), CL_OK);
	OPENSSL_free(der);
	cl_agent_att_free(x->att);
	assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
	char serial[CL_AGENT_SERIAL_MAX];
	cl_agent_att_serial(x->att, serial);
	assert_string_equal(serial, "");
}

/* ---- registers ---- */

static void pcrs_store(void **state)
{
	fx *x = *state;
	cl_pcrs p, q;
	memset(&p, 0, sizeof(p));
	memset(p.v[0], 0xab, CL_PCR_LEN);
	memset(p.v[15], 0x01, CL_PCR_LEN);
	json_t *o = cl_agent_pcrs_json(&p);
	assert_int_equal(json_object_size(o), 2); /* only the registers that are set */
	assert_int_equal(strlen(json_string_value(json_object_get(o, "15"))), 96);
	json_decref(o);
	assert_int_equal(cl_agent_pcrs_load(x->dir, "enc-1", &q), CL_ENOTFOUND);
	assert_int_equal(cl_agent_pcrs_save(x->dir, "enc-1", &p), CL_OK);
	assert_int_equal(cl_agent_pcrs_save(x->dir, "enc-2", &p), CL_OK);
	assert_int_equal(cl_agent_pcrs_load(x->dir, "enc-1", &q), CL_OK);
	assert_memory_equal(&p, &q, sizeof(p));
	assert_int_equal(cl_agent_pcrs_save(x->dir, "../x", &p), CL_EINVAL);
	/* malformed records */
	const char *bad[] = {"{\"16\":\"00\"}", "{\"01\":\"00\"}", "{\"a\":1}", "[]", "{\"3\":\"zz\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		assert_int_equal(cl_agent_pcrs_from_json(b, &q), CL_EINVAL);
		json_decref(b);
	}
	/* prune keeps the listed ids only, records and provision markers */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/provision", x->dir);
	assert_int_equal(cl_mkdir_p(path, 0700), CL_OK);
	snprintf(path, sizeof(path), "%s/provision/enc-1", x->dir);
	assert_int_equal(cl_file_write_atomic(path, "op-1", 4, 0600), CL_OK);
	snprintf(path, sizeof(path), "%s/provision/enc-2", x->dir);
	assert_int_equal(cl_file_write_atomic(path, "op-2", 4, 0600), CL_OK);
	char *keep[] = {"enc-2"};
	assert_int_equal(cl_agent_pcrs_prune(x->dir, keep, 1), 1);
	assert_int_equal(cl_agent_pcrs_load(x->dir, "enc-1", &q), CL_ENOTFOUND);
	assert_int_equal(cl_agent_pcrs_load(x->dir, "enc-2", &q), CL_OK);
	snprintf(path, sizeof(path), "%s/provision/enc-1", x->dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/provision/enc-2", x->dir);
	assert_int_equal(access(path, F_OK), 0);
	cl_agent_pcrs_remove(x->dir, "enc-2");
	assert_int_equal(cl_agent_pcrs_load(x->dir, "enc-2", &q), CL_ENOTFOUND);
	assert_int_equal(access(path, F_OK), -1);
}

/* The report carries an enclave's registers until a sync with them is
 * accepted; a failed sync sends them again. */
static void pcrs_reported_once(void **state)
{
	fx *x = *state;
	cl_pcrs p;
	memset(&p, 0, sizeof(p));
	memset(p.v[4], 0x44, CL_PCR_LEN);
	assert_int_equal(cl_agent_pcrs_save(x->dir, "enc-1", &p), CL_OK);
	cl_agent_pcrs_pending pp = {0};
	cl_agent_pcrs_mark(&pp, "enc-1");
	cl_agent_pcrs_mark(&pp, "enc-3"); /* no record */
	json_t *encs = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "id", "enc-1", "state", "running", "id", "enc-2",
				 "state", "running", "id", "enc-3", "state", "running");
	assert_int_equal(cl_agent_pcrs_attach(x->dir, encs, &pp), 1);
	assert_non_null(json_object_get(json_object_get(json_array_get(encs, 0), "pcrs"), "4"));
	assert_null(json_object_get(json_array_get(encs, 1), "pcrs"));
	json_decref(encs);
	/* the sync failed: the next one carries them again; then delivered */
	encs = json_pack("[{s:s,s:s}]", "id", "enc-1", "state", "running");
	assert_int_equal(cl_agent_pcrs_attach(x->dir, encs, &pp), 1);
	cl_agent_pcrs_delivered(&pp);
	json_decref(encs);
	encs = json_pack("[{s:s,s:s}]", "id", "enc-1", "state", "running");
	assert_int_equal(cl_agent_pcrs_attach(x->dir, encs, &pp), 0);
	json_decref(encs);
	assert_int_equal(pp.n, 1); /* enc-3: waits for its record */
	cl_agent_pcrs_unmark(&pp, "enc-3");
	assert_int_equal(pp.n, 0);
	cl_agent_pcrs_pending_free(&pp);
}

int main(void)
{
	evthread_use_pthreads();
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(pop_digest),
	    T(provisions_at_start),
	    T(held_for_another_key),
	    T(retry_with_delay),
	    T(control_plane_without_attestation),
	    T(bad_answers_change_nothing),
	    T(inconsistent_files_ignored),
	    T(pcrs_store),
	    T(pcrs_reported_once),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
