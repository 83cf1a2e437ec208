/* api_tls_job.c — the TLS jobs and their steps (docs/tls.md "Credentials:
 * the job and its steps"). A job rides its host's syncs as ops (ops.c):
 *
 *   tls_enable / tls_rotate (a new generation G):
 *     op tls_generate {gen, host_id}  -> result {point, proof}   step key_generated
 *     the names fixed here                                        step certificate_requested
 *     the monitor's ISSUE_TLS_CERT                                step certificate_issued
 *     op tls_install {gen, chain, policy} in a sync answer        step delivered
 *     its result ok                                               steps acknowledged, enabled
 *   tls_enable on an enabled credential (a policy change, same key):
 *     op tls_install with the served chain                        delivered, acknowledged, enabled
 *   tls_disable:
 *     op tls_remove {}                                            step disabled
 *
 * Any failure ends the job failed with the step that did not happen (a
 * step with state "failed", its detail the reason; the job's error
 * "<step>: <reason>"), and, when the job made a new key, an op tls_remove
 * {gen} undoes what the host made for that generation (the served one, if
 * any, stays). Steps and credential changes of one event commit together
 * with the job's end; every step wakes the job's waits (jobs_wait.c).
 */
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "control/api_tls.h"
#include "control/ops_priv.h"
#include "control/store_tls.h"

#define TLS_OP_BUDGET_MS 120000 /* an op's deadline: a key, or an install, on a live host */

static const char *const issue_steps[] = {"key_generated", "certificate_requested", "certificate_issued",
					  "delivered",	   "acknowledged",	    "enabled",		  NULL};
static const char *const install_steps[] = {"delivered", "acknowledged", "enabled", NULL};
static const char *const disable_steps[] = {"disabled", NULL};

json_t *ctl_job_steps_json(ctl_server *srv, const char *job_id)
{
	ctl_job_step *s = NULL;
	size_t n = 0;
	if (ctl_store_step_list(srv->store, job_id, &s, &n) != CL_OK)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:o}", "name", s[i].name, "state", s[i].state,
						       "detail", s[i].detail, "at", ctl_json_time(s[i].at))) != 0) {
			json_decref(a);
			a = NULL;
		}
	free(s);
	return a;
}

/* Keeps only printable ASCII of a host-provided message. */
static void clean_copy(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* The steps a job of kind goes through (c: its credential). */
static const char *const *steps_of(const char *kind, const ctl_tls_cred *c)
{
	if (strcmp(kind, "tls_disable") == 0)
		return disable_steps;
	if (strcmp(kind, "tls_enable") == 0 && c->pending_gen == c->generation && c->generation > 0)
		return install_steps; /* a policy change: same key */
	return issue_steps;
}

/* The first of the job's steps not recorded yet (the one a failure stops). */
static const char *next_step(ctl_server *srv, const char *job_id, const char *const *steps)
{
	int64_t n = 0;
	if (ctl_store_step_count(srv->store, job_id, &n) != CL_OK)
		cl_error_clear();
	for (int64_t i = 0; steps[i]; i++)
		if (i == n)
			return steps[i];
	return steps[0];
}

static cl_err step(ctl_server *srv, const char *job_id, const char *name, const char *detail)
{
	CL_GUARD(ctl_store_step_add(srv->store, job_id, name, false, detail, (int64_t)cl_now_wall_ms()));
	ctl_jobs_wake(srv, job_id);
	cl_info("tls step job=%s step=%s", job_id, name);
	return CL_OK;
}

static ctl_tls_cred *cred_get(ctl_server *srv, const char *enclave_id)
{
	ctl_tls_cred *c = malloc(sizeof(*c));
	if (!c) {
		cl_errorf(CL_ENOMEM, "out of memory");
		return NULL;
	}
	if (ctl_store_tls_get(srv->store, enclave_id, c) != CL_OK) {
		free(c);
		return NULL;
	}
	return c;
}

static cl_err submit(ctl_server *srv, const ctl_enclave *e, const char *kind, const char *job_id, json_t *fields)
{
	CL_ENSURE(fields, CL_ENOMEM, "out of memory");
	return ctl_op_submit_job(srv, e, kind, fields, job_id, -1, 0, "", TLS_OP_BUDGET_MS);
}

/* Ends job_id failed at its next step with reason: the step, the
 * credential (an enable's goes "failed"; a served one stays) and the job's
 * end in one transaction; then, if the job made a new key, a tls_remove of
 * that generation (unless the failing op was that removal itself). */
static void fail(ctl_server *srv, const ctl_job *j, const ctl_enclave *e, const char *reason, bool undo)
{
	char why[CTL_MSG_MAX], msg[CTL_MSG_MAX];
	ctl_store *st = srv->store;
	ctl_tls_cred *c = cred_get(srv, e->id);
	cl_err err = c ? CL_OK : CL_EINTERNAL;
	const char *name = c ? next_step(srv, j->id, steps_of(j->kind, c)) : "unknown";
	bool new_key = c && strcmp(j->kind, "tls_disable") != 0 && c->pending_gen != c->generation;
	int64_t gen = c ? c->pending_gen : 0;
	snprintf(why, sizeof(why), "%s", reason && reason[0] ? reason : "failed");
	snprintf(msg, sizeof(msg), "%s: %.200s", name, why);
	if (err == CL_OK)
		err = ctl_store_begin(st);
	if (err == CL_OK)
		err = ctl_store_step_add(st, j->id, name, true, why, (int64_t)cl_now_wall_ms());
	if (err == CL_OK) {
		if (strcmp(c->state, "enabling") == 0)
			snprintf(c->state, sizeof(c->state), "failed");
		c->pending_policy[0] = c->pending_chain[0] = c->pending_serial[0] = '\0';
		c->pending_not_after = 0;
		snprintf(c->error, sizeof(c->error), "%s", msg);
		c->updated_at = (int64_t)cl_now_wall_ms();
		err = ctl_store_tls_put(st, c);
	}
	if (err == CL_OK)
		err = ctl_job_finish_tx(srv, j->id, false, msg);
	if (err == CL_OK)
		err = ctl_store_commit(st);
	if (err != CL_OK) {
		ctl_store_rollback(st);
		cl_error("tls job failure not recorded job=%s: %s", j->id, cl_error_detail());
		(void)!ctl_job_finish_id(srv, j->id, false, msg); /* the job ends at least */
	}
	ctl_jobs_wake(srv, j->id);
	cl_warn("tls job failed job=%s kind=%s enclave=%s step=%s reason=\"%s\"", j->id, j->kind, e->id, name, why);
	free(c);
	if (!undo || !new_key)
		return;
	/* the host removes what it made for that generation (its key holder
	 * destroys the slot); the job is over: the op only awaits the result */
	if (submit(srv, e, "tls_remove", j->id, json_pack("{s:I}", "gen", (json_int_t)gen)) != CL_OK) {
		cl_warn("tls undo not sent job=%s enclave=%s gen=%lld: %s", j->id, e->id, (long long)gen,
			cl_error_detail());
		return;
	}
	ctl_op *op = ctl_op_by_job(srv, j->id);
	if (op)
		op->job_ended = true;
}

cl_err ctl_tls_job_start(ctl_server *srv, const ctl_enclave *e, const ctl_job *j)
{
	ctl_tls_cred *c = cred_get(srv, e->id);
	json_t *f = NULL, *policy = NULL;
	const char *kind;
	cl_err err;
	if (!c) {
		fail(srv, j, e, "the credential is gone", false);
		return cl_errorf(CL_EINTERNAL, "the credential is gone");
	}
	const char *const *steps = steps_of(j->kind, c);
	if (steps == disable_steps) {
		kind = "tls_remove";
		f = json_object();
	} else if (steps == install_steps) {
		kind = "tls_install";
		policy = json_loads(c->pending_policy, 0, NULL);
		f = json_pack("{s:I,s:s,s:O}", "gen", (json_int_t)c->generation, "chain", c->chain, "policy",
			      policy ? policy : json_null());
	} else {
		kind = "tls_generate";
		f = json_pack("{s:I,s:s}", "gen", (json_int_t)c->pending_gen, "host_id", e->host_id);
	}
	err = submit(srv, e, kind, j->id, f);
	if (err != CL_OK) {
		char why[CTL_MSG_MAX];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		fail(srv, j, e, why, false); /* nothing reached the host */
		err = cl_errorf(err, "%s", why);
	}
	json_decref(policy);
	free(c);
	return err;
}

void ctl_tls_op_delivered(ctl_server *srv, const char *kind, const char *job_id)
{
	ctl_job j;
	char detail[CTL_STEP_DETAIL_MAX];
	if (strcmp(kind, "tls_install") != 0 || ctl_store_job_get(srv->store, job_id, &j) != CL_OK ||
	    (strcmp(j.state, "pending") != 0 && strcmp(j.state, "running") != 0)) {
		cl_error_clear();
		return;
	}
	snprintf(detail, sizeof(detail), "the sync answer to the enclave's host carries the certificate chain and "
					 "the policy (public data: no key travels)");
	cl_err err = ctl_store_begin(srv->store);
	if (err == CL_OK && (err = step(srv, job_id, "delivered", detail)) == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		cl_warn("tls step delivered not recorded job=%s: %s", job_id, cl_error_detail());
	}
}

/* {"point": b64 (65 bytes), "proof": b64 (64 bytes)}, itself the base64
 * data of the host's result. */
static cl_err parse_generated(const char *data, uint8_t point[65], uint8_t proof[64])
{
	cl_buf b, p, s;
	json_t *o = NULL;
	cl_err err = CL_OK;
	cl_buf_init(&b, 1024);
	cl_buf_init(&p, 128);
	cl_buf_init(&s, 128);
	if (!data || cl_base64_decode(data, &b) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "host: the tls_generate result is not base64");
		goto out;
	}
	o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
	const char *ps = json_string_value(json_object_get(o, "point"));
	const char *ss = json_string_value(json_object_get(o, "proof"));
	if (!json_is_object(o) || json_object_size(o) != 2 || !ps || !ss || cl_base64_decode(ps, &p) != CL_OK ||
	    cl_base64_decode(ss, &s) != CL_OK || p.len != 65 || s.len != 64 || p.data[0] != 0x04) {
		err = cl_errorf(CL_EPROTO, "host: the tls_generate result is not {\"point\": 65 bytes (uncompressed "
					   "P-256), \"proof\": 64 bytes} in base64");
		goto out;
	}
	memcpy(point, p.data, 65);
	memcpy(proof, s.data, 64);
out:
	json_decref(o);
	cl_buf_free(&b);
	cl_buf_free(&p);
	cl_buf_free(&s);
	return err;
}

/* The certificate's names: <enclave>.<tenant>.<zone>, then the enclave's
 * address when the store knows it. */
static cl_err names_of(ctl_server *srv, const ctl_enclave *e, char *out, size_t n)
{
	ctl_tenant t;
	bool network;
	char addr[64];
	CL_GUARD(ctl_store_tenant_get(srv->store, e->tenant_id, &t));
	CL_GUARD(ctl_store_enclave_network(srv->store, e->id, &network, addr, sizeof(addr)));
	int w = snprintf(out, n, "%s.%s.%s%s%s", e->name, t.name, CTL_TLS_ZONE, addr[0] ? "," : "", addr);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_ETOOBIG, "the certificate's names exceed %zu bytes", n - 1);
	return CL_OK;
}

/* The leaf of chain (PEM): subject and issuer (RFC 2253), SANs
 * (comma-separated DNS names and addresses); with point, CL_ECRYPTO unless
 * the leaf holds exactly that public key. */
static cl_err leaf_info(const char *chain, const uint8_t *point, char *subject, char *issuer, size_t n,
			char *sans, size_t sn)
{
	BIO *in = BIO_new_mem_buf(chain, -1), *mem = BIO_new(BIO_s_mem());
	X509 *x = in ? PEM_read_bio_X509(in, NULL, NULL, NULL) : NULL;
	GENERAL_NAMES *gens = NULL;
	cl_err err = CL_OK;
	if (!x || !mem) {
		err = cl_errorf(CL_ECRYPTO, "the issued chain does not start with a PEM certificate");
		goto out;
	}
	if (point) {
		uint8_t got[133];
		size_t len = 0;
		EVP_PKEY *pk = X509_get0_pubkey(x);
		if (!pk ||
		    !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, got, sizeof(got), &len) ||
		    len != 65 || memcmp(got, point, 65) != 0) {
			err = cl_errorf(CL_ECRYPTO, "the issued certificate does not hold the host's public key");
			goto out;
		}
	}
	const X509_NAME *names[2] = {X509_get_subject_name(x), X509_get_issuer_name(x)};
	char *outs[2] = {subject, issuer};
	for (int i = 0; i < 2; i++) {
		(void)BIO_reset(mem);
		X509_NAME_print_ex(mem, names[i], 0, XN_FLAG_RFC2253);
		int r = BIO_read(mem, outs[i], (int)n - 1);
		outs[i][r > 0 ? r : 0] = '\0';
	}
	sans[0] = '\0';
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char one[64] = "";
		if (g->type == GEN_DNS)
			snprintf(one, sizeof(one), "%.*s", ASN1_STRING_length(g->d.dNSName),
				 (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4) {
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
			snprintf(one, sizeof(one), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		}
		size_t used = strlen(sans);
		if (one[0] && used + strlen(one) + 2 < sn)
			snprintf(sans + used, sn - used, "%s%s", used ? "," : "", one);
	}
out:
	GENERAL_NAMES_free(gens);
	X509_free(x);
	BIO_free(in);
	BIO_free(mem);
	return err;
}

/* tls_generate answered: the key exists on the host; request and issue. */
static void on_generated(ctl_server *srv, const ctl_job *j, const ctl_enclave *e, const char *data)
{
	uint8_t point[65], proof[64];
	char names[CTL_TLS_NAMES_MAX + 1], detail[CTL_STEP_DETAIL_MAX], serial[41] = "", subj[CTL_MSG_MAX],
		iss[CTL_MSG_MAX], sans[CTL_TLS_SANS_MAX];
	char *chain = NULL;
	int64_t not_after = 0;
	json_t *policy = NULL;
	ctl_tls_cred *c = cred_get(srv, e->id);
	cl_err err = c ? parse_generated(data, point, proof) : CL_EINTERNAL;
	if (err != CL_OK) {
		fail(srv, j, e, cl_error_detail(), true);
		goto done;
	}
	char hex[17];
	cl_hex_encode(point + 1, 8, hex);
	CL_GUARD_OUT(err, names_of(srv, e, names, sizeof(names)));
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	snprintf(detail, sizeof(detail), "P-256 key made in the key holder of host %s, slot tls/%s:%lld (point %s...)",
		 e->host_id, e->id, (long long)c->pending_gen, hex);
	if ((err = step(srv, j->id, "key_generated", detail)) == CL_OK) {
		snprintf(detail, sizeof(detail), "%.250s", names);
		err = step(srv, j->id, "certificate_requested", detail);
	}
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	/* the one call to the monitor's ISSUE_TLS_CERT */
	CL_GUARD_OUT(err, ctl_mon_issue_tls_cert(srv->mon, e->host_id, e->id, (uint32_t)c->pending_gen, names, point,
						 proof, &chain, serial, &not_after));
	CL_GUARD_OUT(err, leaf_info(chain, point, subj, iss, sizeof(subj), sans, sizeof(sans)));
	if (strlen(chain) >= sizeof(c->pending_chain)) {
		err = cl_errorf(CL_ETOOBIG, "the issued chain exceeds %zu bytes", sizeof(c->pending_chain) - 1);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	snprintf(c->pending_chain, sizeof(c->pending_chain), "%s", chain);
	snprintf(c->pending_serial, sizeof(c->pending_serial), "%s", serial);
	c->pending_not_after = not_after;
	c->updated_at = (int64_t)cl_now_wall_ms();
	snprintf(detail, sizeof(detail), "serial %s, issuer %.80s, valid until %lld (unix seconds)", serial, iss,
		 (long long)not_after);
	if ((err = ctl_store_tls_put(srv->store, c)) == CL_OK &&
	    (err = step(srv, j->id, "certificate_issued", detail)) == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	policy = json_loads(c->pending_policy, 0, NULL);
	err = submit(srv, e, "tls_install", j->id,
		     json_pack("{s:I,s:s,s:O}", "gen", (json_int_t)c->pending_gen, "chain", chain, "policy",
			       policy ? policy : json_null()));
out:
	if (err != CL_OK)
		fail(srv, j, e, cl_error_detail(), true);
done:
	json_decref(policy);
	free(chain);
	free(c);
}

/* The endpoints of a tls_install result: data (may be NULL: none) is the
 * base64 of {"endpoints": ["ADDR:PORT", ...]}; out gets them comma-separated
 * ("" none). CL_EPROTO for anything else. */
static cl_err parse_endpoints(const char *data, char *out, size_t cap)
{
	cl_buf b;
	json_t *o = NULL, *a, *v;
	size_t i, len = 0;
	cl_err err = CL_OK;
	out[0] = '\0';
	if (!data || !data[0])
		return CL_OK;
	cl_buf_init(&b, 512);
	if (cl_base64_decode(data, &b) != CL_OK ||
	    !(o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL)) ||
	    !json_is_array(a = json_object_get(o, "endpoints")) || json_array_size(a) > 8) {
		err = cl_errorf(CL_EPROTO, "host: the tls_install result is not {\"endpoints\": [\"ADDR:PORT\"...]}");
		goto out;
	}
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		size_t n = s ? strlen(s) : 0;
		if (n == 0 || n > 63 || strspn(s, "0123456789abcdefABCDEF.:[]") != n || len + n + 2 > cap) {
			err = cl_errorf(CL_EPROTO, "host: a tls_install endpoint is not ADDR:PORT");
			goto out;
		}
		if (len)
			out[len++] = ',';
		memcpy(out + len, s, n + 1);
		len += n;
	}
out:
	if (err != CL_OK)
		out[0] = '\0';
	json_decref(o);
	cl_buf_free(&b);
	return err;
}

/* tls_install answered ok: the data plane serves the generation. */
static void on_installed(ctl_server *srv, const ctl_job *j, const ctl_enclave *e, const char *data)
{
	char detail[CTL_STEP_DETAIL_MAX];
	ctl_tls_cred *c = cred_get(srv, e->id);
	json_t *pol = NULL;
	cl_err err = c ? CL_OK : CL_EINTERNAL;
	if (err == CL_OK)
		err = parse_endpoints(data, c->endpoints, sizeof(c->endpoints));
	if (err == CL_OK && c->pending_chain[0]) { /* a new certificate: it is now the served one */
		err = leaf_info(c->pending_chain, NULL, c->subject, c->issuer, sizeof(c->subject), c->sans,
				sizeof(c->sans));
		snprintf(c->chain, sizeof(c->chain), "%s", c->pending_chain);
		snprintf(c->serial, sizeof(c->serial), "%s", c->pending_serial);
		c->not_after = c->pending_not_after;
	}
	if (err != CL_OK) {
		fail(srv, j, e, cl_error_detail(), true);
		free(c);
		return;
	}
	pol = json_loads(c->pending_policy, 0, NULL);
	c->generation = c->pending_gen;
	snprintf(c->policy, sizeof(c->policy), "%s", c->pending_policy);
	c->pending_policy[0] = c->pending_chain[0] = c->pending_serial[0] = '\0';
	c->pending_not_after = 0;
	snprintf(c->state, sizeof(c->state), "enabled");
	c->error[0] = '\0';
	c->updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	snprintf(detail, sizeof(detail), "host %s: the chain holds the key holder's key for tls/%s:%lld and the data "
					 "plane serves it", e->host_id, e->id, (long long)c->generation);
	if ((err = step(srv, j->id, "acknowledged", detail)) == CL_OK) {
		snprintf(detail, sizeof(detail), "mode %s, insecure %s: listeners and rules live%s%.120s",
			 json_string_value(json_object_get(pol, "mode")) ? json_string_value(json_object_get(pol, "mode"))
									 : "?",
			 json_string_value(json_object_get(pol, "insecure"))
				 ? json_string_value(json_object_get(pol, "insecure"))
				 : "?",
			 c->endpoints[0] ? "; endpoints " : "", c->endpoints);
		err = step(srv, j->id, "enabled", detail);
	}
	if (err == CL_OK && (err = ctl_store_tls_put(srv->store, c)) == CL_OK &&
	    (err = ctl_job_finish_tx(srv, j->id, true, NULL)) == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK)
		ctl_store_rollback(srv->store);
out:
	if (err != CL_OK)
		fail(srv, j, e, cl_error_detail(), true);
	else
		cl_info("tls enabled enclave=%s gen=%lld serial=%s job=%s", e->id, (long long)c->generation, c->serial,
			j->id);
	json_decref(pol);
	free(c);
}

/* tls_remove answered ok for a disable: nothing of the enclave's TLS stays. */
static void on_removed(ctl_server *srv, const ctl_job *j, const ctl_enclave *e)
{
	ctl_tls_cred *c = cred_get(srv, e->id);
	cl_err err = c ? CL_OK : CL_EINTERNAL;
	CL_GUARD_OUT(err, err);
	snprintf(c->state, sizeof(c->state), "disabled");
	c->serial[0] = c->subject[0] = c->sans[0] = c->issuer[0] = c->chain[0] = c->endpoints[0] = '\0';
	c->not_after = 0;
	c->error[0] = '\0';
	c->updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	if ((err = step(srv, j->id, "disabled",
			"the host removed the listeners and rules, and its key holder every generation's key")) ==
		    CL_OK &&
	    (err = ctl_store_tls_put(srv->store, c)) == CL_OK && (err = ctl_job_finish_tx(srv, j->id, true, NULL)) == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK)
		ctl_store_rollback(srv->store);
out:
	if (err != CL_OK)
		fail(srv, j, e, cl_error_detail(), false);
	free(c);
}

void ctl_tls_op_end(ctl_server *srv, const char *kind, const char *job_id, const char *enclave_id, bool from_host,
		    bool ok, const char *data, const char *error)
{
	ctl_job j;
	ctl_enclave e;
	char why[CTL_MSG_MAX - 40], clean[CTL_MSG_MAX - 48];
	if (ctl_store_job_get(srv->store, job_id, &j) != CL_OK) {
		cl_warn("tls op ended for an unknown job kind=%s job=%s", kind, job_id);
		cl_error_clear();
		return;
	}
	if (strcmp(j.state, "pending") != 0 && strcmp(j.state, "running") != 0) {
		/* an undo's result, or a job something else ended */
		cl_info("tls op ended after its job kind=%s job=%s enclave=%s ok=%d", kind, job_id, enclave_id, ok);
		return;
	}
	if (ctl_store_enclave_get(srv->store, enclave_id, &e) != CL_OK) {
		cl_error_clear();
		(void)!ctl_job_finish_id(srv, job_id, false, "the enclave is gone");
		return;
	}
	if (!ok) {
		clean_copy(clean, sizeof(clean), error && error[0] ? error : "failed");
		snprintf(why, sizeof(why), "%s%s", from_host ? "host: " : "", clean);
		fail(srv, &j, &e, why, strcmp(kind, "tls_remove") != 0);
		return;
	}
	if (strcmp(kind, "tls_generate") == 0)
		on_generated(srv, &j, &e, data);
	else if (strcmp(kind, "tls_install") == 0)
		on_installed(srv, &j, &e, data);
	else if (strcmp(kind, "tls_remove") == 0)
		on_removed(srv, &j, &e);
	else
		fail(srv, &j, &e, "unknown TLS op", false);
	cl_error_clear();
}
