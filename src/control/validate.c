/* validate.c — field validators and request-body parsers (no I/O). */
#include "control/validate.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/util.h"

static const char *const action_names[] = {"describe", "list", "start", "stop", "destroy",
					   "resize",   "send", "recv",  "logs", "attest", "measure", "provision",
					   "suspend",  "restore", "tls"};

uint32_t ctl_action_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (strcmp(name, action_names[i]) == 0)
			return 1u << i;
	return 0;
}

const char *ctl_action_name(uint32_t bit)
{
	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (bit == 1u << i)
			return action_names[i];
	return "unknown";
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool ctl_valid_name(const char *s)
{
	return cl_proto_valid_name(s);
}

bool ctl_valid_id(const char *s)
{
	return cl_proto_valid_id(s);
}

cl_err ctl_json_body(const void *data, size_t len, json_t **out)
{
	CL_ENSURE(len <= CTL_JSON_MAX, CL_ETOOBIG, "JSON body exceeds %u bytes", CTL_JSON_MAX);
	CL_ENSURE(len > 0, CL_EINVAL, "request body must be a JSON object");
	json_error_t je;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	CL_ENSURE(j, CL_EINVAL, "malformed JSON at line %d column %d: %.80s", je.line, je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return cl_errorf(CL_EINVAL, "request body must be a JSON object");
	}
	*out = j;
	return CL_OK;
}

/* Rejects keys not in the NULL-terminated allowed list. */
static cl_err only_keys(json_t *o, const char *what, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(k, allowed[i]) == 0;
		CL_ENSURE(ok, CL_EINVAL, "%s: unknown field \"%.64s\"", what, k);
	}
	return CL_OK;
}

/* String field; NULL *out when absent and not required. */
static cl_err get_str(json_t *o, const char *key, bool required, size_t maxlen, const char **out)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v) {
		CL_ENSURE(!required, CL_EINVAL, "field \"%s\" is required", key);
		return CL_OK;
	}
	CL_ENSURE(json_is_string(v), CL_EINVAL, "field \"%s\" must be a string", key);
	CL_ENSURE(json_string_length(v) <= maxlen && strlen(json_string_value(v)) == json_string_length(v),
		  CL_EINVAL, "field \"%s\" is too long or contains NUL", key);
	*out = json_string_value(v);
	return CL_OK;
}

static cl_err get_name(json_t *o, const char *key, bool required, const char **out)
{
	CL_GUARD(get_str(o, key, required, 63, out));
	CL_ENSURE(!*out || ctl_valid_name(*out), CL_EINVAL, "field \"%s\" must match [a-z0-9][a-z0-9-]{0,62}", key);
	return CL_OK;
}

static cl_err get_id(json_t *o, const char *key, const char **out)
{
	CL_GUARD(get_str(o, key, true, 63, out));
	CL_ENSURE(ctl_valid_id(*out), CL_EINVAL, "field \"%s\" is not a valid id", key);
	return CL_OK;
}

/* Integer field in [min,max]; *out keeps its value (the default) when absent and not required. */
static cl_err get_int(json_t *o, const char *key, bool required, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!v) {
		CL_ENSURE(!required, CL_EINVAL, "field \"%s\" is required", key);
		return CL_OK;
	}
	CL_ENSURE(json_is_integer(v), CL_EINVAL, "field \"%s\" must be an integer", key);
	json_int_t n = json_integer_value(v);
	CL_ENSURE(n >= min && n <= max, CL_EINVAL, "field \"%s\" must be in %lld..%lld", key, (long long)min,
		  (long long)max);
	*out = n;
	return CL_OK;
}

static cl_err get_level(json_t *o, const char *key, const char **name, int *rank)
{
	CL_GUARD(get_str(o, key, true, 15, name));
	*rank = cl_level_rank(*name);
	CL_ENSURE(*rank >= 0, CL_EINVAL, "field \"%s\": unknown security level", key);
	return CL_OK;
}

static cl_err parse_constraints(json_t *body, const char *key, bool far, ctl_create_req *out)
{
	static const char *const allowed[] = {"resource", "latency_us", "hops", NULL};
	json_t *arr = json_object_get(body, key);
	if (!arr)
		return CL_OK;
	CL_ENSURE(json_is_array(arr), CL_EINVAL, "field \"%s\" must be an array", key);
	CL_ENSURE(json_array_size(arr) <= CTL_MAX_CONSTRAINTS, CL_EINVAL, "field \"%s\": at most %u constraints",
		  key, CTL_MAX_CONSTRAINTS);
	size_t i;
	json_t *c;
	json_array_foreach(arr, i, c)
	{
		CL_ENSURE(json_is_object(c), CL_EINVAL, "field \"%s\" must hold objects", key);
		CL_GUARD(only_keys(c, key, allowed));
		cl_place_constraint *pc = &out->cons[out->ncons];
		int64_t lat = 0, hops = 0;
		const char *res;
		CL_GUARD(get_name(c, "resource", true, &res));
		CL_GUARD(get_int(c, "latency_us", false, 0, CL_PROTO_LATENCY_US_MAX, &lat));
		CL_GUARD(get_int(c, "hops", false, 0, CL_PROTO_HOPS_MAX, &hops));
		pc->resource = res;
		pc->far = far;
		pc->latency_us = (uint32_t)lat;
		pc->hops = (uint32_t)hops;
		out->ncons++;
	}
	return CL_OK;
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
}

/* "network": true and "expose": [ports] (1..65535, distinct, at most
 * CL_PROTO_EXPOSE_MAX, only with a network), sorted ascending into out. */
static cl_err parse_network(json_t *body, ctl_create_req *out)
{
	json_t *nw = json_object_get(body, "network"), *ex = json_object_get(body, "expose"), *v;
	size_t i;
	CL_ENSURE(!nw || json_is_boolean(nw), CL_EINVAL, "field \"network\" must be true or false");
	out->network = json_is_true(nw);
	if (!ex)
		return CL_OK;
	CL_ENSURE(out->network, CL_EINVAL, "field \"expose\" needs \"network\": true");
	CL_ENSURE(json_is_array(ex) && json_array_size(ex) <= CL_PROTO_EXPOSE_MAX, CL_EINVAL,
		  "field \"expose\" must be an array of at most %u ports", CL_PROTO_EXPOSE_MAX);
	json_array_foreach(ex, i, v)
	{
		CL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535,
			  CL_EINVAL, "expose: ports are integers 1..65535");
		uint16_t port = (uint16_t)json_integer_value(v);
		for (size_t k = 0; k < out->nexpose; k++)
			CL_ENSURE(out->expose[k] != port, CL_EINVAL, "expose: port %u given twice", (unsigned)port);
		out->expose[out->nexpose++] = port;
	}
	qsort(out->expose, out->nexpose, sizeof(out->expose[0]), cmp_u16);
	return CL_OK;
}

cl_err ctl_parse_create_enclave(json_t *body, ctl_create_req *out)
{
	static const char *const allowed[] = {"name", "image_id", "memory_mib", "cpus", "min_level", "zone",
					      "rack", "near",     "far",        "policy", "await_bundle", "suspendable",
					      "network", "expose", NULL};
	memset(out, 0, sizeof(*out));
	CL_GUARD(only_keys(body, "enclave", allowed));
	CL_GUARD(get_name(body, "name", true, &out->name));
	CL_GUARD(get_id(body, "image_id", &out->image_id));
	CL_GUARD(get_int(body, "memory_mib", true, CL_PROTO_MEMORY_MIN_MIB, CL_PROTO_MEMORY_MAX_MIB, &out->memory_mib));
	CL_GUARD(get_int(body, "cpus", true, 1, CL_PROTO_CPUS_MAX, &out->cpus));
	CL_GUARD(get_level(body, "min_level", &out->min_level, &out->min_level_rank));
	CL_GUARD(get_name(body, "zone", false, &out->zone));
	CL_GUARD(get_name(body, "rack", false, &out->rack));
	CL_GUARD(parse_constraints(body, "near", false, out));
	CL_GUARD(parse_constraints(body, "far", true, out));
	json_t *aw = json_object_get(body, "await_bundle");
	CL_ENSURE(!aw || json_is_boolean(aw), CL_EINVAL, "field \"await_bundle\" must be true or false");
	out->await_bundle = json_is_true(aw);
	json_t *su = json_object_get(body, "suspendable");
	CL_ENSURE(!su || json_is_boolean(su), CL_EINVAL, "field \"suspendable\" must be true or false");
	out->suspendable = json_is_true(su);
	CL_GUARD(parse_network(body, out));
	out->untrusted_mask = CTL_ACT_DEFAULT;
	json_t *pol = json_object_get(body, "policy");
	if (pol) {
		static const char *const pallowed[] = {"untrusted", NULL};
		CL_ENSURE(json_is_object(pol), CL_EINVAL, "field \"policy\" must be an object");
		CL_GUARD(only_keys(pol, "policy", pallowed));
		json_t *u = json_object_get(pol, "untrusted");
		if (u) {
			CL_ENSURE(json_is_array(u) && json_array_size(u) <= 16, CL_EINVAL,
				  "field \"policy.untrusted\" must be an array of at most 16 actions");
			out->untrusted_mask = 0;
			size_t i;
			json_t *a;
			json_array_foreach(u, i, a)
			{
				CL_ENSURE(json_is_string(a), CL_EINVAL, "policy.untrusted holds action names");
				uint32_t bit = ctl_action_bit(json_string_value(a));
				CL_ENSURE(bit && strlen(json_string_value(a)) == json_string_length(a), CL_EINVAL,
					  "policy.untrusted: unknown action \"%.32s\"", json_string_value(a));
				out->untrusted_mask |= bit;
			}
		}
	}
	return CL_OK;
}

cl_err ctl_parse_resize(json_t *body, int64_t *memory_mib)
{
	static const char *const allowed[] = {"memory_mib", NULL};
	CL_GUARD(only_keys(body, "resize", allowed));
	return get_int(body, "memory_mib", true, CL_PROTO_MEMORY_MIN_MIB, CL_PROTO_MEMORY_MAX_MIB, memory_mib);
}

static bool valid_feature_key(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(lower_alnum(k[i]) || k[i] == '-' || k[i] == '_' || k[i] == '.'))
			return false;
	return true;
}

cl_err ctl_parse_caps(json_t *caps, ctl_caps *out)
{
	static const char *const allowed[] = {"backends", "level", "memory_mib", "cpus", "zone",
					      "rack",     "features", "latency", NULL};
	memset(out, 0, sizeof(*out));
	CL_ENSURE(json_is_object(caps), CL_EINVAL, "field \"capabilities\" must be an object");
	CL_GUARD(only_keys(caps, "capabilities", allowed));
	json_t *b = json_object_get(caps, "backends");
	CL_ENSURE(json_is_array(b) && json_array_size(b) >= 1 && json_array_size(b) <= 8, CL_EINVAL,
		  "capabilities.backends must be an array of 1..8 names");
	size_t i;
	json_t *v;
	json_array_foreach(b, i, v)
	{
		CL_ENSURE(json_is_string(v) && (strcmp(json_string_value(v), "process") == 0 ||
						 strcmp(json_string_value(v), "vm") == 0),
			  CL_EINVAL, "capabilities.backends: unknown backend");
	}
	CL_GUARD(get_level(caps, "level", &out->level, &out->level_rank));
	CL_GUARD(get_int(caps, "memory_mib", true, 16, 64ll * 1024 * 1024, &out->memory_mib));
	CL_GUARD(get_int(caps, "cpus", true, 1, 4096, &out->cpus));
	CL_GUARD(get_name(caps, "zone", false, &out->zone));
	CL_GUARD(get_name(caps, "rack", false, &out->rack));
	if (!out->zone)
		out->zone = "";
	if (!out->rack)
		out->rack = "";
	json_t *f = json_object_get(caps, "features");
	if (f) {
		CL_ENSURE(json_is_object(f) && json_object_size(f) <= 64, CL_EINVAL,
			  "capabilities.features must be an object of at most 64 booleans");
		const char *k;
		json_object_foreach(f, k, v)
		{
			CL_ENSURE(valid_feature_key(k) && json_is_boolean(v), CL_EINVAL,
				  "capabilities.features: bad feature \"%.64s\"", k);
		}
	}
	json_t *lat = json_object_get(caps, "latency");
	if (lat) {
		static const char *const lallowed[] = {"resource", "latency_us", "hops", NULL};
		CL_ENSURE(json_is_array(lat) && json_array_size(lat) <= CTL_MAX_LATENCY, CL_EINVAL,
			  "capabilities.latency must be an array of at most %d entries", CTL_MAX_LATENCY);
		json_array_foreach(lat, i, v)
		{
			CL_ENSURE(json_is_object(v), CL_EINVAL, "capabilities.latency holds objects");
			CL_GUARD(only_keys(v, "latency", lallowed));
			const char *res;
			int64_t us = 0, hops = 0;
			CL_GUARD(get_name(v, "resource", true, &res));
			CL_GUARD(get_int(v, "latency_us", true, 0, 60000000, &us));
			CL_GUARD(get_int(v, "hops", true, 0, 255, &hops));
			out->latency[out->nlatency++] = (cl_place_latency){res, (uint32_t)us, (uint32_t)hops};
		}
	}
	return CL_OK;
}

cl_err ctl_parse_join_token(json_t *body, const char **level, int *rank)
{
	static const char *const allowed[] = {"level", NULL};
	*level = "software";
	*rank = 0;
	CL_GUARD(only_keys(body, "join token", allowed));
	if (!json_object_get(body, "level"))
		return CL_OK;
	return get_level(body, "level", level, rank);
}

cl_err ctl_parse_register(json_t *body, ctl_register_req *out)
{
	static const char *const allowed[] = {"join_token", "name", "capabilities", NULL};
	memset(out, 0, sizeof(*out));
	CL_GUARD(only_keys(body, "register", allowed));
	CL_GUARD(get_str(body, "join_token", true, 200, &out->join_token));
	CL_GUARD(get_name(body, "name", true, &out->name));
	out->caps_json = json_object_get(body, "capabilities");
	CL_ENSURE(out->caps_json, CL_EINVAL, "field \"capabilities\" is required");
	return ctl_parse_caps(out->caps_json, &out->caps);
}

static cl_err check_base64(const char *s, size_t max_decoded, size_t *n)
{
	cl_buf b;
	cl_buf_init(&b, max_decoded);
	cl_err e = cl_base64_decode(s, &b);
	*n = b.len;
	cl_buf_free(&b);
	if (e == CL_ETOOBIG)
		return cl_errorf(CL_ETOOBIG, "data exceeds %zu bytes", max_decoded);
	CL_ENSURE(e == CL_OK, CL_EINVAL, "data is not valid base64");
	return CL_OK;
}

cl_err ctl_parse_op_result(json_t *body, ctl_sync_result *out)
{
	static const char *const allowed[] = {"op", "ok", "data", "error", "reason", "audit_seq", NULL};
	memset(out, 0, sizeof(*out));
	CL_GUARD(only_keys(body, "result", allowed));
	json_t *ok = json_object_get(body, "ok");
	CL_ENSURE(json_is_boolean(ok), CL_EINVAL, "field \"ok\" must be a boolean");
	out->ok = json_is_true(ok);
	CL_GUARD(get_str(body, "op", false, 63, &out->op));
	CL_GUARD(get_str(body, "data", false, 2 * CTL_RECV_MAX, &out->data));
	CL_GUARD(get_str(body, "error", false, 1024, &out->error));
	CL_GUARD(get_str(body, "reason", false, 63, &out->reason));
	CL_GUARD(get_int(body, "audit_seq", false, 0, INT64_MAX / 2, &out->audit_seq));
	if (out->data) {
		size_t n;
		CL_GUARD(check_base64(out->data, CTL_RECV_MAX, &n));
	}
	return CL_OK;
}

static bool dotted_quad(const char *s)
{
	struct in_addr a;
	char back[INET_ADDRSTRLEN];
	/* inet_pton takes only a.b.c.d; the round trip refuses leading zeros */
	return s && strlen(s) < sizeof(back) && inet_pton(AF_INET, s, &a) == 1 &&
	       inet_ntop(AF_INET, &a, back, sizeof(back)) && strcmp(back, s) == 0;
}

/* An enclave report's "network": {"address", "host_address"}, both
 * dotted quads (absent: NULL). */
static cl_err parse_report_net(json_t *n, ctl_sync_enclave *e)
{
	static const char *const allowed[] = {"address", "host_address", NULL};
	if (!n)
		return CL_OK;
	CL_ENSURE(json_is_object(n), CL_EINVAL, "enclaves.network must be an object");
	CL_GUARD(only_keys(n, "network", allowed));
	const char *a = json_string_value(json_object_get(n, "address"));
	const char *h = json_string_value(json_object_get(n, "host_address"));
	CL_ENSURE(dotted_quad(a) && dotted_quad(h), CL_EINVAL,
		  "enclaves.network: address and host_address must be IPv4 addresses");
	e->net_address = a;
	e->net_host_address = h;
	return CL_OK;
}

cl_err ctl_parse_sync(json_t *body, ctl_sync_req *out)
{
	static const char *const allowed[] = {"generation", "wait_ms", "capabilities", "enclaves", "results",
					      "firmware", NULL};
	static const char *const eallowed[] = {"id", "state", "memory_mib", "exit_status", "error", "pcrs", "network", NULL};
	static const char *const states[] = {"running", "stopped", "exited", "failed"};
	cl_err err = CL_OK;
	memset(out, 0, sizeof(*out));
	CL_GUARD(only_keys(body, "sync", allowed));
	CL_GUARD(get_int(body, "generation", true, 0, INT64_MAX / 2, &out->generation));
	out->wait_ms = 0;
	CL_GUARD(get_int(body, "wait_ms", false, 0, 600000, &out->wait_ms));
	out->caps_json = json_object_get(body, "capabilities");
	if (out->caps_json)
		CL_GUARD(ctl_parse_caps(out->caps_json, &out->caps));
	out->firmware = json_object_get(body, "firmware");
	CL_ENSURE(!out->firmware || json_is_object(out->firmware), CL_EINVAL, "field \"firmware\" must be an object");
	json_t *encs = json_object_get(body, "enclaves");
	size_t i;
	json_t *v;
	if (encs) {
		CL_ENSURE(json_is_array(encs) && json_array_size(encs) <= CTL_MAX_SYNC_ENCLAVES, CL_EINVAL,
			  "field \"enclaves\" must be an array of at most %d", CTL_MAX_SYNC_ENCLAVES);
		/* The count comes from an array already decoded and bounded above. */
		out->enclaves = calloc(json_array_size(encs) + 1, sizeof(*out->enclaves));
		if (!out->enclaves)
			return CL_ENOMEM;
		json_array_foreach(encs, i, v)
		{
			ctl_sync_enclave *e = &out->enclaves[i];
			if (!json_is_object(v)) {
				err = cl_errorf(CL_EINVAL, "field \"enclaves\" holds objects");
				goto out;
			}
			CL_GUARD_OUT(err, only_keys(v, "enclaves", eallowed));
			CL_GUARD_OUT(err, get_id(v, "id", &e->id));
			CL_GUARD_OUT(err, get_str(v, "state", true, 15, &e->state));
			bool ok = false;
			for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++)
				ok |= strcmp(e->state, states[s]) == 0;
			if (!ok) {
				err = cl_errorf(CL_EINVAL, "enclaves.state must be running|stopped|exited|failed");
				goto out;
			}
			CL_GUARD_OUT(err, get_int(v, "memory_mib", false, 0, 64ll * 1024 * 1024, &e->memory_mib));
			e->has_exit = json_object_get(v, "exit_status") != NULL;
			CL_GUARD_OUT(err, get_int(v, "exit_status", false, INT32_MIN, INT32_MAX, &e->exit_status));
			CL_GUARD_OUT(err, get_str(v, "error", false, 1024, &e->error));
			if ((e->pcrs = json_object_get(v, "pcrs")))
				CL_GUARD_OUT(err, ctl_parse_pcrs(e->pcrs));
			CL_GUARD_OUT(err, parse_report_net(json_object_get(v, "network"), e));
			out->nenclaves++;
		}
	}
	json_t *res = json_object_get(body, "results");
	if (res) {
		if (!json_is_array(res) || json_array_size(res) > CTL_MAX_SYNC_RESULTS) {
			err = cl_errorf(CL_EINVAL, "field \"results\" must be an array of at most %d",
					CTL_MAX_SYNC_RESULTS);
			goto out;
		}
		out->results = calloc(json_array_size(res) + 1, sizeof(*out->results));
		if (!out->results) {
			err = CL_ENOMEM;
			goto out;
		}
		json_array_foreach(res, i, v)
		{
			if (!json_is_object(v)) {
				err = cl_errorf(CL_EINVAL, "field \"results\" holds objects");
				goto out;
			}
			CL_GUARD_OUT(err, ctl_parse_op_result(v, &out->results[i]));
			if (!out->results[i].op) {
				err = cl_errorf(CL_EINVAL, "results: field \"op\" is required");
				goto out;
			}
			out->nresults++;
		}
	}
	return CL_OK;
out:
	ctl_sync_req_free(out);
	return err;
}

void ctl_sync_req_free(ctl_sync_req *r)
{
	free(r->enclaves);
	free(r->results);
	r->enclaves = NULL;
	r->results = NULL;
	r->nenclaves = r->nresults = 0;
}

cl_err ctl_parse_send(json_t *body, const char **data_b64, size_t *n)
{
	static const char *const allowed[] = {"data", NULL};
	CL_GUARD(only_keys(body, "send", allowed));
	CL_GUARD(get_str(body, "data", true, CTL_JSON_MAX, data_b64));
	return check_base64(*data_b64, CTL_SEND_MAX, n);
}

cl_err ctl_parse_recv(json_t *body, int64_t *max, int64_t *wait_ms)
{
	static const char *const allowed[] = {"max", "wait_ms", NULL};
	*max = CL_PROTO_RECV_DEFAULT;
	*wait_ms = 0;
	CL_GUARD(only_keys(body, "recv", allowed));
	CL_GUARD(get_int(body, "max", false, 1, CTL_RECV_MAX, max));
	return get_int(body, "wait_ms", false, 0, CTL_WAIT_MAX_MS, wait_ms);
}

cl_err ctl_parse_tenant(json_t *body, const char **name)
{
	static const char *const allowed[] = {"name", NULL};
	CL_GUARD(only_keys(body, "tenant", allowed));
	return get_name(body, "name", true, name);
}

cl_err ctl_parse_ttl(const char *s, int64_t *seconds)
{
	static const struct {
		char unit;
		int64_t mult;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	size_t n = s ? strlen(s) : 0;
	int64_t v = 0, mult = 0;
	CL_ENSURE(n >= 2 && n <= 12 && s[0] >= '1' && s[0] <= '9', CL_EINVAL,
		  "field \"ttl\" must be a number and a unit s, m, h or d (e.g. \"30d\", \"12h\", \"90s\")");
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (s[n - 1] == units[i].unit)
			mult = units[i].mult;
	CL_ENSURE(mult, CL_EINVAL, "field \"ttl\" must end with a unit s, m, h or d (e.g. \"30d\")");
	for (size_t i = 0; i + 1 < n; i++) {
		CL_ENSURE(s[i] >= '0' && s[i] <= '9', CL_EINVAL,
			  "field \"ttl\" must be a number and a unit s, m, h or d (e.g. \"30d\")");
		v = v * 10 + (s[i] - '0'); /* at most 11 digits: no overflow */
	}
	CL_ENSURE(v <= CTL_TOKEN_TTL_MAX_S / mult, CL_EINVAL, "field \"ttl\" must be at most %lldd",
		  (long long)(CTL_TOKEN_TTL_MAX_S / 86400));
	*seconds = v * mult;
	return CL_OK;
}

cl_err ctl_parse_token_req(json_t *body, const char **tenant_id, const char **name, const char **kind,
			   int64_t *ttl_s)
{
	static const char *const allowed[] = {"tenant_id", "name", "kind", "ttl", NULL};
	static const char *const kinds[] = {"admin", "tenant", "engineer", "metrics"};
	CL_GUARD(only_keys(body, "token", allowed));
	CL_GUARD(get_id(body, "tenant_id", tenant_id));
	CL_GUARD(get_name(body, "name", true, name));
	*kind = NULL;
	*ttl_s = 0;
	json_t *t = json_object_get(body, "ttl");
	if (t && !json_is_null(t)) {
		CL_ENSURE(json_is_string(t), CL_EINVAL, "field \"ttl\" must be a string such as \"30d\"");
		CL_GUARD(ctl_parse_ttl(json_string_value(t), ttl_s));
	}
	json_t *k = json_object_get(body, "kind");
	if (!k || json_is_null(k))
		return CL_OK;
	const char *v = json_string_value(k);
	for (size_t i = 0; v && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(v, kinds[i]) == 0)
			*kind = kinds[i];
	CL_ENSURE(*kind, CL_EINVAL, "field \"kind\" must be \"admin\", \"tenant\", \"engineer\" or \"metrics\"");
	return CL_OK;
}

/* ---- attestation ---- */

cl_err ctl_parse_pcrs(json_t *pcrs)
{
	const char *k;
	json_t *v;
	CL_ENSURE(json_is_object(pcrs) && json_object_size(pcrs) <= CTL_PCR_INDEX_MAX + 1, CL_EINVAL,
		  "field \"pcrs\" must be an object of at most %d registers", CTL_PCR_INDEX_MAX + 1);
	json_object_foreach(pcrs, k, v)
	{
		size_t n = strlen(k);
		bool num = n >= 1 && n <= 2 && k[0] >= '0' && k[0] <= '9' && (n == 1 || (k[0] != '0' && k[1] >= '0' &&
											 k[1] <= '9'));
		CL_ENSURE(num && (n == 1 || (k[0] - '0') * 10 + (k[1] - '0') <= CTL_PCR_INDEX_MAX), CL_EINVAL,
			  "pcrs: keys are register numbers 0..15");
		const char *h = json_is_string(v) ? json_string_value(v) : NULL;
		bool hex = h && json_string_length(v) == 96;
		for (size_t i = 0; hex && i < 96; i++)
			hex = (h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f');
		CL_ENSURE(hex, CL_EINVAL, "pcrs.%s must be 96 lower-case hex digits", k);
	}
	return CL_OK;
}

/* Base64 field of exactly n decoded bytes into out. */
static cl_err get_b64_fixed(json_t *o, const char *key, uint8_t *out, size_t n)
{
	const char *s = NULL;
	cl_buf b;
	CL_GUARD(get_str(o, key, true, 4 * ((n + 2) / 3), &s));
	cl_buf_init(&b, n + 3);
	cl_err err = cl_base64_decode(s, &b);
	if (err != CL_OK || b.len != n)
		err = cl_errorf(CL_EINVAL, "field \"%s\" must be the base64 of %zu bytes", key, n);
	else
		memcpy(out, b.data, n);
	cl_buf_free(&b);
	return err;
}

cl_err ctl_parse_attest_key(json_t *body, uint8_t point[97], uint8_t proof[96])
{
	static const char *const allowed[] = {"public_key", "proof", NULL};
	CL_GUARD(only_keys(body, "attestation key", allowed));
	CL_GUARD(get_b64_fixed(body, "public_key", point, 97));
	return get_b64_fixed(body, "proof", proof, 96);
}

cl_err ctl_parse_attest_req(json_t *body, json_t **fields)
{
	static const char *const allowed[] = {"nonce", NULL};
	const char *hex = NULL;
	uint8_t *raw = NULL;
	char *b64 = NULL;
	json_t *f = json_object();
	cl_err err = CL_OK;
	*fields = NULL;
	CL_ENSURE(f != NULL, CL_ENOMEM, "out of memory");
	/* Only the enclave chooses what its document binds (as only a Nitro
	 * enclave, through its NSM device, does): a key or data given from
	 * outside would let any caller get a genuine document naming a key of
	 * its own. docs/guest-interface.md, "The secure module". */
	if (json_object_get(body, "public_key") || json_object_get(body, "user_data")) {
		err = cl_errorf(CL_EINVAL, "public_key and user_data are set from inside the enclave "
					   "(/dev/cloister/nsm.sock, libcloister-enclave), not by the caller");
		goto out;
	}
	CL_GUARD_OUT(err, only_keys(body, "attestation", allowed));
	CL_GUARD_OUT(err, get_str(body, "nonce", false, 2 * CTL_ATT_NONCE_MAX, &hex));
	if (hex) {
		size_t n = strlen(hex);
		if (n == 0 || n % 2 != 0 || !(raw = malloc(n / 2)) || cl_hex_decode(hex, raw, n / 2) != CL_OK) {
			err = cl_errorf(CL_EINVAL, "field \"nonce\" must be hex of 1..%d bytes", CTL_ATT_NONCE_MAX);
			goto out;
		}
		CL_GUARD_OUT(err, cl_base64_encode(raw, n / 2, &b64));
		if (json_object_set_new(f, "nonce", json_string(b64)) != 0) {
			err = CL_ENOMEM;
			goto out;
		}
	}
	*fields = f;
	f = NULL;
out:
	json_decref(f);
	free(raw);
	free(b64);
	return err;
}
