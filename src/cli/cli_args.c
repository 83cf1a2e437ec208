/* cli_args.c — command-line argument parsing: options, sizes, proximity
 * constraints, operation lists. Pure functions, unit-tested in
 * tests/unit/test_cli_args.c. */
#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

bool cl_cli_is_help(const char *s)
{
	return s && (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "help") == 0);
}

/* getopt_long's view of an option table: option i is returned as
 * CL_OPT_BASE + i (its short name, if any, as itself); -h/--help as 'h'. */
#define CL_OPT_BASE 256
#define CL_OPT_MAX 64

static const cl_cli_option *option_of(const cl_cli_option *opts, size_t n, int c)
{
	if (c >= CL_OPT_BASE && (size_t)(c - CL_OPT_BASE) < n)
		return &opts[c - CL_OPT_BASE];
	for (size_t i = 0; i < n && c > 0 && c < CL_OPT_BASE; i++)
		if (opts[i].short_name == c)
			return &opts[i];
	return NULL;
}

/* The option's name as written ("--name" or "-n"), for a message. */
static int written_len(const char *a)
{
	const char *eq = strchr(a, '=');
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	return (int)(n > 64 ? 64 : n);
}

/* True if the argument a ("--name" or "--name=value") names exactly name. */
static bool names_option(const char *a, const char *name)
{
	size_t n = strlen(name);
	return strncmp(a + 2, name, n) == 0 && (a[2 + n] == '\0' || a[2 + n] == '=');
}

/* Applies one value to o (a value, or one more of a list). */
static cl_err take_value(const cl_cli_option *o, char *val)
{
	if (o->kind == CL_OPT_VALUE) {
		*o->value = val;
		return CL_OK;
	}
	char *save = NULL;
	char *t = o->kind == CL_OPT_LIST ? strtok_r(val, ",", &save) : val;
	for (; t; t = o->kind == CL_OPT_LIST ? strtok_r(NULL, ",", &save) : NULL) {
		if (*o->count >= o->max_values)
			return cl_errorf(CL_EINVAL, "option '--%s' given more than %zu times", o->name, o->max_values);
		o->values[(*o->count)++] = t;
	}
	return CL_OK;
}

cl_err cl_cli_parse_opts(int argc, char **argv, const cl_cli_option *opts, const char **pos, size_t maxpos,
			 size_t *npos, bool *help)
{
	struct option longs[CL_OPT_MAX + 2];
	/* "-": non-options come back in order as 1; ":": a missing value is ':'. */
	char shorts[3 + 2 * CL_OPT_MAX + 1] = "-:h";
	size_t n = 0, ns = 3, np = 0;
	*help = false;
	*npos = 0;
	for (; opts && opts[n].name; n++) {
		CL_ENSURE(n < CL_OPT_MAX, CL_EINTERNAL, "too many options in one command's table");
		bool arg = opts[n].kind != CL_OPT_FLAG;
		longs[n] = (struct option){opts[n].name, arg ? required_argument : no_argument, NULL,
					   CL_OPT_BASE + (int)n};
		if (opts[n].short_name) {
			shorts[ns++] = opts[n].short_name;
			if (arg)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
	longs[n] = (struct option){"help", no_argument, NULL, 'h'};
	longs[n + 1] = (struct option){0};

	/* getopt_long reads from argv[1]: give it a copy with a program name. */
	char **av = calloc((size_t)argc + 2, sizeof(*av));
	if (!av)
		return CL_ENOMEM;
	av[0] = "cloister";
	for (int i = 0; i < argc; i++)
		av[i + 1] = argv[i];
	cl_err err = CL_OK;
	optind = 0; /* a full reset: the parser may run more than once */
	opterr = 0;
	for (;;) {
		int at = optind > 0 ? optind : 1; /* the element being read */
		int li = -1;
		int c = getopt_long(argc + 1, av, shorts, longs, &li);
		if (c == -1)
			break;
		const char *a = at <= argc ? av[at] : "";
		const cl_cli_option *o = option_of(opts, n, c == '?' || c == ':' ? optopt : c);
		if (c == 1) {
			if (np >= maxpos) {
				err = cl_errorf(CL_EINVAL, "unexpected argument '%s'", optarg);
				goto out;
			}
			pos[np++] = optarg;
			continue;
		}
		/* getopt_long takes an unambiguous prefix ("--nam"); a command's
		 * options are only ever their full names. */
		const char *matched = li >= 0 ? longs[li].name : o && (c == ':' || c == '?') ? o->name : NULL;
		if (matched && strncmp(a, "--", 2) == 0 && !names_option(a, matched)) {
			err = cl_errorf(CL_EINVAL, "unknown option '%.*s'", written_len(a), a);
			goto out;
		}
		if (c == 'h') {
			*help = true;
		} else if (c == ':') {
			err = cl_errorf(CL_EINVAL, "option '--%s' needs a value", o ? o->name : "?");
			goto out;
		} else if (c == '?') {
			if (o && optopt >= CL_OPT_BASE)
				err = cl_errorf(CL_EINVAL, "option '--%s' takes no value", o->name);
			else if (optopt == 'h' && strncmp(a, "--", 2) == 0)
				err = cl_errorf(CL_EINVAL, "option '--help' takes no value");
			else if (optopt > 0 && optopt < CL_OPT_BASE && strncmp(a, "--", 2) != 0)
				err = cl_errorf(CL_EINVAL, "unknown option '-%c'", optopt);
			else
				err = cl_errorf(CL_EINVAL, "unknown option '%.*s'", written_len(a), a);
			goto out;
		} else if (o && o->kind == CL_OPT_FLAG) {
			*o->flag = true;
		} else if (o) {
			CL_GUARD_OUT(err, take_value(o, optarg));
		}
	}
	/* After "--": the rest is positional. */
	for (int i = optind; i <= argc; i++) {
		if (np >= maxpos) {
			err = cl_errorf(CL_EINVAL, "unexpected argument '%s'", av[i]);
			goto out;
		}
		pos[np++] = av[i];
	}
	*npos = np;
out:
	free(av);
	return err;
}

cl_err cl_cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return cl_errorf(CL_EINVAL, "'%s' is not a non-negative integer", s ? s : "");
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return cl_errorf(CL_EINVAL, "'%s' is not a non-negative integer", s);
	if (v > max)
		return cl_errorf(CL_EINVAL, "%s is larger than %llu", s, (unsigned long long)max);
	*out = v;
	return CL_OK;
}

cl_err cl_cli_parse_ports(const char *s, uint16_t *ports, size_t max, size_t *n)
{
	char item[16];
	*n = 0;
	CL_ENSURE(s && *s, CL_EINVAL, "--expose: expected ports, e.g. 8080,8443");
	while (*s) {
		size_t len = strcspn(s, ",");
		uint64_t v = 0;
		CL_ENSURE(len > 0 && len < sizeof(item), CL_EINVAL, "--expose: '%s' is not a list of ports", s);
		memcpy(item, s, len);
		item[len] = '\0';
		CL_ENSURE(cl_cli_parse_uint(item, 65535, &v) == CL_OK && v >= 1, CL_EINVAL,
			  "--expose: '%s' is not a port (1..65535)", item);
		for (size_t i = 0; i < *n; i++)
			CL_ENSURE(ports[i] != v, CL_EINVAL, "--expose: port %s given twice", item);
		CL_ENSURE(*n < max, CL_EINVAL, "--expose: at most %zu ports", max);
		ports[(*n)++] = (uint16_t)v;
		s += len;
		if (*s == ',') {
			s++;
			CL_ENSURE(*s, CL_EINVAL, "--expose: a trailing comma");
		}
	}
	return CL_OK;
}

#define CL_CLI_MAX_MIB (1024ull * 1024) /* 1 TiB */

cl_err cl_cli_parse_size_mib(const char *s, uint64_t *mib)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return cl_errorf(CL_EINVAL, "invalid size '%s' (examples: 64M, 1G)", s ? s : "");
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE || v > (1ull << 40))
		return cl_errorf(CL_EINVAL, "size '%s' is too large (at most 1T)", s);
	static const struct {
		const char *suffix;
		unsigned long long kib; /* size of one unit in KiB */
	} units[] = {
		{"", 1024},     {"M", 1024},        {"MB", 1024},           {"MIB", 1024},
		{"K", 1},       {"KB", 1},          {"KIB", 1},             {"G", 1024 * 1024},
		{"GB", 1024 * 1024}, {"GIB", 1024 * 1024}, {"T", 1024ull * 1024 * 1024},
		{"TB", 1024ull * 1024 * 1024}, {"TIB", 1024ull * 1024 * 1024},
	};
	char up[8];
	size_t n = strlen(end);
	if (n >= sizeof(up))
		return cl_errorf(CL_EINVAL, "invalid size '%s' (examples: 64M, 1G)", s);
	for (size_t i = 0; i <= n; i++)
		up[i] = (char)toupper((unsigned char)end[i]);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(up, units[i].suffix) != 0)
			continue;
		if (v > CL_CLI_MAX_MIB * 1024 / units[i].kib)
			return cl_errorf(CL_EINVAL, "size '%s' is too large (at most 1T)", s);
		unsigned long long kib = v * units[i].kib; /* bounded above: no overflow */
		if (kib % 1024)
			return cl_errorf(CL_EINVAL, "size '%s' is not a whole number of MiB", s);
		unsigned long long m = kib / 1024;
		if (m == 0)
			return cl_errorf(CL_EINVAL, "size '%s' must be at least 1M", s);
		if (m > CL_CLI_MAX_MIB)
			return cl_errorf(CL_EINVAL, "size '%s' is too large (at most 1T)", s);
		*mib = m;
		return CL_OK;
	}
	return cl_errorf(CL_EINVAL, "invalid size '%s' (examples: 64M, 1G)", s);
}

cl_err cl_cli_parse_enclave_memory(const char *s, const char *what, uint64_t *mib)
{
	uint64_t v;
	CL_GUARD(cl_cli_parse_size_mib(s, &v));
	if (v < CL_PROTO_MEMORY_MIN_MIB || v > CL_PROTO_MEMORY_MAX_MIB) {
		char lo[32], hi[32];
		return cl_errorf(CL_EINVAL, "%s %s is out of range: an enclave has %s..%s", what, s,
				 cl_cli_fmt_bytes((uint64_t)CL_PROTO_MEMORY_MIN_MIB << 20, lo, sizeof(lo)),
				 cl_cli_fmt_bytes((uint64_t)CL_PROTO_MEMORY_MAX_MIB << 20, hi, sizeof(hi)));
	}
	*mib = v;
	return CL_OK;
}

const char *cl_cli_fmt_bytes(uint64_t bytes, char *buf, size_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	if (bytes == 0 || bytes % 1024) {
		snprintf(buf, n, "%llu bytes", (unsigned long long)bytes);
		return buf;
	}
	uint64_t v = bytes / 1024;
	size_t u = 0;
	while (v % 1024 == 0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%llu %s", (unsigned long long)v, units[u]);
	return buf;
}

cl_err cl_cli_parse_proximity(const char *s, json_t **out)
{
	const char *colon = strrchr(s, ':');
	size_t rlen = colon ? (size_t)(colon - s) : strlen(s);
	char res[CL_PROTO_NAME_LEN_MAX + 1];
	if (rlen == 0 || rlen >= sizeof(res))
		return cl_errorf(CL_EINVAL, "invalid resource in '%s' (a name of 1..%u characters of [a-z0-9-])", s,
				 CL_PROTO_NAME_LEN_MAX);
	memcpy(res, s, rlen);
	res[rlen] = '\0';
	if (!cl_proto_valid_name(res))
		return cl_errorf(CL_EINVAL, "invalid resource in '%s' (a name of 1..%u characters of [a-z0-9-])", s,
				 CL_PROTO_NAME_LEN_MAX);
	const char *key = NULL;
	uint64_t value = 0;
	if (colon) {
		const char *q = colon + 1;
		char *end;
		if (!isdigit((unsigned char)q[0]))
			return cl_errorf(CL_EINVAL, "invalid constraint in '%s' (examples: db:500us, db:3hops)", s);
		errno = 0;
		unsigned long long v = strtoull(q, &end, 10);
		if (errno == ERANGE || v > CL_PROTO_LATENCY_US_MAX)
			return cl_errorf(CL_EINVAL, "constraint in '%s' is too large", s);
		if (strcmp(end, "us") == 0) {
			key = "latency_us";
			value = v;
		} else if (strcmp(end, "ms") == 0) {
			key = "latency_us";
			value = v * 1000;
		} else if (strcmp(end, "hops") == 0 || strcmp(end, "hop") == 0) {
			if (v > CL_PROTO_HOPS_MAX)
				return cl_errorf(CL_EINVAL, "hop count in '%s' is too large (at most %u)", s,
						 CL_PROTO_HOPS_MAX);
			key = "hops";
			value = v;
		} else {
			return cl_errorf(CL_EINVAL, "invalid constraint in '%s' (examples: db:500us, db:3hops)", s);
		}
		if (value > CL_PROTO_LATENCY_US_MAX)
			return cl_errorf(CL_EINVAL, "constraint in '%s' is too large (at most %u us)", s,
					 CL_PROTO_LATENCY_US_MAX);
	}
	json_t *o = json_object();
	if (!o || json_object_set_new(o, "resource", json_stringn(s, rlen)) != 0 ||
	    (key && json_object_set_new(o, key, json_integer((json_int_t)value)) != 0)) {
		json_decref(o);
		return CL_ENOMEM;
	}
	*out = o;
	return CL_OK;
}

static const char *const known_ops[] = {"describe", "list", "start", "stop", "destroy",
					"resize",   "send", "recv",  "logs", "attest", "measure", "provision",
					"suspend",  "restore", "tls"};

cl_err cl_cli_parse_ops(const char *s, json_t **out)
{
	json_t *arr = json_array();
	if (!arr)
		return CL_ENOMEM;
	const char *p = s;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *match = NULL;
		for (size_t i = 0; i < sizeof(known_ops) / sizeof(known_ops[0]); i++)
			if (strlen(known_ops[i]) == n && strncmp(known_ops[i], p, n) == 0)
				match = known_ops[i];
		if (!match) {
			json_decref(arr);
			if (n == 0)
				return cl_errorf(CL_EINVAL, "empty operation name in '%s'", s);
			return cl_errorf(CL_EINVAL,
					 "unknown operation '%.*s' (known: describe, list, start, stop, "
					 "destroy, resize, send, recv, logs, attest, measure, provision, suspend, restore)",
					 (int)(n > 32 ? 32 : n), p);
		}
		bool dup = false;
		size_t i;
		json_t *v;
		json_array_foreach(arr, i, v) dup |= strcmp(json_string_value(v), match) == 0;
		if (!dup && json_array_append_new(arr, json_string(match)) != 0) {
			json_decref(arr);
			return CL_ENOMEM;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = arr;
	return CL_OK;
}

bool cl_cli_valid_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

bool cl_cli_parse_or_help(int argc, char **argv, const cl_cli_option *opts, const char **pos,
			  size_t maxpos, size_t *npos, const char *usage, int *rc)
{
	bool help = false;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, maxpos, npos, &help);
	if (err != CL_OK) {
		*rc = cl_cli_fail_usage(err);
		return true;
	}
	if (help) {
		fputs(usage, stdout);
		*rc = 0;
		return true;
	}
	return false;
}

int cl_cli_parse_or_usage(int argc, char **argv, const cl_cli_option *opts, const char **pos, size_t maxpos,
			  size_t *npos)
{
	bool help = false;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, maxpos, npos, &help);
	return err == CL_OK ? 0 : cl_cli_fail_usage(err);
}
