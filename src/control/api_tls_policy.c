/* api_tls_policy.c — the TLS policy a tenant sends with
 * POST /v1/enclaves/{id}/tls, validated and normalized (api_tls.h,
 * docs/tls.md "Per-guest policy"). Outside input: fuzzed by
 * fuzz/fuzz_tls_policy.c. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/api_tls.h"
#include "tls/http_mark.h"

static const char *const modes[] = {"all", "ports", "ips", "adapters", "auto", NULL};

static bool in_list(const char *s, const char *const *list, bool nocase)
{
	for (size_t i = 0; list[i]; i++)
		if (nocase ? strcasecmp(s, list[i]) == 0 : strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static cl_err check_header(const char *h)
{
	size_t n = strlen(h);
	CL_ENSURE(n >= 1 && n <= CTL_TLS_HEADER_MAX, CL_EINVAL, "field \"header\" must be 1..%d characters",
		  CTL_TLS_HEADER_MAX);
	/* the data plane's own check (src/tls/http_mark.c): an HTTP token, and no
	 * framing or hop-by-hop field (ignoring case, `-` and `_` alike) */
	if (cl_http_mark_name_check(h) != CL_OK) {
		char why[160];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		return cl_errorf(CL_EINVAL, "field \"header\": %s; choose another name", why);
	}
	return CL_OK;
}

/* "ADDR" or "ADDR/PREFIX", IPv4 (prefix 0..32) or IPv6 (0..128). */
static bool valid_cidr(const char *s)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char buf[16];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	int max = inet_pton(AF_INET, addr, buf) == 1 ? 32 : inet_pton(AF_INET6, addr, buf) == 1 ? 128 : -1;
	if (max < 0)
		return false;
	if (!slash)
		return true;
	const char *p = slash + 1;
	size_t plen = strlen(p);
	if (plen == 0 || plen > 3)
		return false;
	int v = 0;
	for (size_t i = 0; i < plen; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	return !(plen > 1 && p[0] == '0') && v <= max;
}

/* An interface name inside the guest: [a-z][a-z0-9]{0,14} (fits IFNAMSIZ). */
static bool valid_adapter(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 15 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* The list field key of body (absent: empty) into *out (a new array). */
static cl_err parse_list(json_t *body, const char *key, size_t max, json_t **out)
{
	json_t *v = json_object_get(body, key), *arr = json_array();
	size_t i;
	json_t *x;
	cl_err err = CL_OK;
	*out = NULL;
	CL_ENSURE(arr, CL_ENOMEM, "out of memory");
	if (!v || json_is_null(v)) {
		*out = arr;
		return CL_OK;
	}
	if (!json_is_array(v) || json_array_size(v) > max) {
		json_decref(arr);
		return cl_errorf(CL_EINVAL, "field \"%s\" must be an array of at most %zu", key, max);
	}
	json_array_foreach(v, i, x)
	{
		if (strcmp(key, "ports") == 0) {
			json_int_t p = json_is_integer(x) ? json_integer_value(x) : 0;
			if (p < 1 || p > 65535) {
				err = cl_errorf(CL_EINVAL, "field \"ports\" holds port numbers 1..65535");
				break;
			}
			for (size_t k = 0; k < i && err == CL_OK; k++)
				if (json_integer_value(json_array_get(arr, k)) == p)
					err = cl_errorf(CL_EINVAL, "field \"ports\": port %lld is listed twice", (long long)p);
			if (err == CL_OK && json_array_append_new(arr, json_integer(p)) != 0)
				err = CL_ENOMEM;
		} else {
			const char *s = json_string_value(x);
			bool ok = s && (strcmp(key, "ips") == 0 ? valid_cidr(s) : valid_adapter(s));
			if (!ok) {
				err = strcmp(key, "ips") == 0
					      ? cl_errorf(CL_EINVAL, "field \"ips\" holds addresses or CIDRs (10.0.0.0/8, "
								     "2001:db8::/32)")
					      : cl_errorf(CL_EINVAL, "field \"adapters\" holds interface names "
								     "([a-z][a-z0-9]{0,14}, e.g. sec0)");
				break;
			}
			if (json_array_append_new(arr, json_string(s)) != 0)
				err = CL_ENOMEM;
		}
		if (err != CL_OK)
			break;
	}
	if (err != CL_OK) {
		json_decref(arr);
		return err;
	}
	*out = arr;
	return CL_OK;
}

cl_err ctl_tls_parse_policy(json_t *body, json_t **out)
{
	static const char *const allowed[] = {"mode", "ports", "ips", "adapters", "insecure", "header", NULL};
	json_t *ports = NULL, *ips = NULL, *adapters = NULL;
	const char *k;
	json_t *v;
	cl_err err = CL_OK;
	*out = NULL;
	CL_ENSURE(json_is_object(body), CL_EINVAL, "the body must be a JSON object (the policy)");
	CL_ENSURE(!json_object_get(body, "import"), CL_EINVAL,
		  "import: importing a certificate and key (--import-cert/--import-key) is not supported yet; "
		  "enable without it to have a key made on the host and a certificate issued");
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(in_list(k, allowed, false), CL_EINVAL, "unknown field \"%.32s\"", k);
	}
	json_t *jm = json_object_get(body, "mode"), *ji = json_object_get(body, "insecure"),
	       *jh = json_object_get(body, "header");
	CL_ENSURE(!jm || json_is_string(jm), CL_EINVAL, "field \"mode\" must be a string");
	CL_ENSURE(!ji || json_is_string(ji), CL_EINVAL, "field \"insecure\" must be a string");
	CL_ENSURE(!jh || json_is_null(jh) || json_is_string(jh), CL_EINVAL, "field \"header\" must be a string or null");
	const char *mode = jm ? json_string_value(jm) : "all";
	const char *insecure = ji ? json_string_value(ji) : "reject";
	const char *header = jh && json_is_string(jh) ? json_string_value(jh) : NULL;
	CL_ENSURE(in_list(mode, modes, false), CL_EINVAL, "field \"mode\" must be all, ports, ips, adapters or auto");
	CL_ENSURE(strcmp(insecure, "allow") == 0 || strcmp(insecure, "reject") == 0, CL_EINVAL,
		  "field \"insecure\" must be allow or reject");
	if (header)
		CL_GUARD(check_header(header));
	CL_GUARD_OUT(err, parse_list(body, "ports", CTL_TLS_PORTS_MAX, &ports));
	CL_GUARD_OUT(err, parse_list(body, "ips", CTL_TLS_IPS_MAX, &ips));
	CL_GUARD_OUT(err, parse_list(body, "adapters", CTL_TLS_ADAPTERS_MAX, &adapters));
	static const char *const lists[] = {"ports", "ips", "adapters"};
	json_t *got[] = {ports, ips, adapters};
	for (size_t i = 0; i < 3; i++) {
		bool mine = strcmp(mode, lists[i]) == 0;
		if (mine && json_array_size(got[i]) == 0) {
			err = cl_errorf(CL_EINVAL, "mode %s needs field \"%s\" (at least one)", mode, lists[i]);
			goto out;
		}
		if (!mine && json_array_size(got[i]) > 0) {
			err = cl_errorf(CL_EINVAL, "field \"%s\" goes with mode %s only (this policy's mode is %s)",
					lists[i], lists[i], mode);
			goto out;
		}
	}
	*out = json_pack("{s:s,s:O,s:O,s:O,s:s,s:o}", "mode", mode, "ports", ports, "ips", ips, "adapters", adapters,
			 "insecure", insecure, "header", header ? json_string(header) : json_null());
	if (!*out)
		err = CL_ENOMEM;
out:
	json_decref(ports);
	json_decref(ips);
	json_decref(adapters);
	return err;
}
