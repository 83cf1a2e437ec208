/* agent_args.c — the `cloister-host` command line, and where the join
 * token comes from. Pure (no I/O) but for cl_agent_join_token_resolve,
 * which reads the token file. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/agent_args.h"
#include "sandbox/sandbox_net.h"

const char *cl_agent_usage(void)
{
	return "usage: cloister-host --control URL --ca CAFILE --data DIR [options]\n"
	       "\n"
	       "  --control URL          control plane base URL (https://HOST:PORT)\n"
	       "  --ca CAFILE            CA certificate that signs the control plane's TLS cert\n"
	       "  --data DIR             host data directory (host.json, images/, sandboxes/)\n"
	       "  --join-token-file PATH one-time join token (needed only on first start), read\n"
	       "                         from PATH: a file only this user may read (chmod 600)\n"
	       "                         Or set CLOISTER_JOIN_TOKEN in the environment.\n"
	       "  --join-token T         deprecated: visible to every user in ps; use the above\n"
	       "  --name NAME            host name (default: the machine's hostname)\n"
	       "  --zone Z               zone label\n"
	       "  --rack R               rack label\n"
	       "  --latency RES=US[:HOPS] latency (microseconds) and hops to a named resource;\n"
	       "                         repeatable\n"
	       "  --init PATH            cloister-init binary (default: next to cloister-host)\n"
	       "  --memory-mib N         memory offered to enclaves (default: the machine's)\n"
	       "  --cpus N               CPUs offered to enclaves (default: the machine's)\n"
	       "  --poll-timeout-ms N    long-poll wait asked of the control plane (default 20000)\n"
	       "  --fw-root PUB.pem      run the firmware guard (device model under DATA/fw); the\n"
	       "                         provider's firmware root public key, burnt into the\n"
	       "                         devices' ROM on first start. Without it: no guard\n"
	       "  --guest-pool CIDR      addresses of enclaves created --network: a /30 each,\n"
	       "                         prefix /16../30 (default 10.77.0.0/16)\n"
	       "  --tls-listen ADDR      IPv4 address of the guests' public TLS endpoints\n"
	       "                         (default 127.0.0.1; each endpoint gets a free port)\n"
	       "  --help                 this text\n"
	       "  --version              version, revision and library versions\n"
	       "\n"
	       "SIGTERM/SIGINT stop the agent and leave enclaves running; the next start adopts them.\n"
	       "`cloister-host --destroy-all --data DIR` destroys them (with no agent running) and exits.\n";
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cl_agent_valid_id(const char *s)
{
	if (!s || !s[0])
		return false;
	for (size_t i = 0; s[i]; i++)
		if (i >= CL_AGENT_ID_MAX - 1 || !(lower_alnum(s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool cl_agent_valid_name(const char *s)
{
	return s && lower_alnum(s[0]) && cl_agent_valid_id(s);
}

/* Decimal u64 in [min, max]; no sign, no junk, no overflow. */
static cl_err parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || s[0] < '0' || s[0] > '9')
		return cl_errorf(CL_EINVAL, "%s: expected a number", flag);
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !end || *end != '\0')
		return cl_errorf(CL_EINVAL, "%s: expected a number", flag);
	if (v < min || v > max)
		return cl_errorf(CL_EINVAL, "%s: must be between %" PRIu64 " and %" PRIu64, flag, min, max);
	*out = v;
	return CL_OK;
}

cl_err cl_agent_parse_latency(const char *s, cl_agent_latency *out)
{
	const char *eq = s ? strchr(s, '=') : NULL;
	if (!eq)
		return cl_errorf(CL_EINVAL, "--latency: expected RESOURCE=US[:HOPS]");
	size_t rlen = (size_t)(eq - s);
	if (rlen == 0 || rlen >= sizeof(out->resource))
		return cl_errorf(CL_EINVAL, "--latency: resource name must be 1..63 characters");
	char res[CL_AGENT_ID_MAX];
	memcpy(res, s, rlen);
	res[rlen] = '\0';
	if (!cl_agent_valid_name(res))
		return cl_errorf(CL_EINVAL, "--latency: resource name must match [a-z0-9][a-z0-9-]{0,62}");
	char num[32];
	const char *rest = eq + 1, *colon = strchr(rest, ':');
	size_t nlen = colon ? (size_t)(colon - rest) : strlen(rest);
	if (nlen == 0 || nlen >= sizeof(num))
		return cl_errorf(CL_EINVAL, "--latency: expected RESOURCE=US[:HOPS]");
	memcpy(num, rest, nlen);
	num[nlen] = '\0';
	uint64_t us = 0, hops = 0;
	CL_GUARD(parse_u64("--latency microseconds", num, 0, 60000000, &us));
	if (colon)
		CL_GUARD(parse_u64("--latency hops", colon + 1, 0, 255, &hops));
	memcpy(out->resource, res, rlen + 1);
	out->latency_us = (uint32_t)us;
	out->hops = (uint32_t)hops;
	return CL_OK;
}

/* The options: string ones store into a slot of the config; val is the
 * index into string_slot() for them, and a letter for the others. */
enum { OPT_LATENCY = 'L', OPT_MEMORY = 'M', OPT_CPUS = 'C', OPT_POLL = 'P', OPT_HELP = 'h', NSTRING = 12 };
static const struct option options[] = {
	{"control", required_argument, NULL, 0},     {"ca", required_argument, NULL, 1},
	{"data", required_argument, NULL, 2},        {"join-token", required_argument, NULL, 3},
	{"name", required_argument, NULL, 4},        {"zone", required_argument, NULL, 5},
	{"rack", required_argument, NULL, 6},        {"init", required_argument, NULL, 7},
	{"fw-root", required_argument, NULL, 8},     {"join-token-file", required_argument, NULL, 9},
	{"guest-pool", required_argument, NULL, 10}, {"tls-listen", required_argument, NULL, 11},
	{"latency", required_argument, NULL, OPT_LATENCY}, {"memory-mib", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS}, {"poll-timeout-ms", required_argument, NULL, OPT_POLL},
	{"help", no_argument, NULL, OPT_HELP},       {NULL, 0, NULL, 0},
};

static const char **string_slot(cl_agent_config *c, int i)
{
	const char **slots[NSTRING] = {&c->control, &c->ca,   &c->data, &c->join_token, &c->name,
				       &c->zone,    &c->rack, &c->init, &c->fw_root,    &c->join_token_file,
				       &c->guest_pool, &c->tls_listen};
	return slots[i];
}

static cl_err apply_option(cl_agent_config *cfg, int opt, const char *flag, const char *val)
{
	uint64_t v = 0;
	if (opt >= 0 && opt < NSTRING) {
		const char **slot = string_slot(cfg, opt);
		CL_ENSURE(*slot == NULL, CL_EINVAL, "%s given twice", flag);
		CL_ENSURE(val[0] != '\0', CL_EINVAL, "%s: empty value", flag);
		*slot = val;
	} else if (opt == OPT_LATENCY) {
		CL_ENSURE(cfg->nlatency < CL_AGENT_MAX_LATENCY, CL_EINVAL, "--latency: at most %d entries",
			  CL_AGENT_MAX_LATENCY);
		cl_agent_latency l;
		CL_GUARD(cl_agent_parse_latency(val, &l));
		for (size_t i = 0; i < cfg->nlatency; i++)
			CL_ENSURE(strcmp(cfg->latency[i].resource, l.resource) != 0, CL_EINVAL,
				  "--latency: resource %s given twice", l.resource);
		cfg->latency[cfg->nlatency++] = l;
	} else if (opt == OPT_MEMORY) {
		CL_GUARD(parse_u64(flag, val, 16, UINT64_C(64) << 20, &v));
		cfg->memory_mib = v;
	} else if (opt == OPT_CPUS) {
		CL_GUARD(parse_u64(flag, val, 1, 4096, &v));
		cfg->cpus = (uint32_t)v;
	} else {
		CL_GUARD(parse_u64(flag, val, 100, 600000, &v));
		cfg->poll_timeout_ms = (uint32_t)v;
	}
	return CL_OK;
}

cl_err cl_agent_parse_args(int argc, char **argv, cl_agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->poll_timeout_ms = 20000;
	opterr = 0;
	optind = 0; /* glibc: a full reset, so the parser can run more than once */
	int opt, idx;
	/* "+": stop at the first argument that is not an option (refused below);
	 * ":": a missing value is ':' rather than '?' */
	while ((idx = -1, opt = getopt_long(argc, argv, "+:h", options, &idx)) != -1) {
		/* the option as given: argv[optind - 2] when its value was a separate argument */
		const char *arg = optarg && optind >= 2 && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
		char flag[32];
		if (idx >= 0)
			snprintf(flag, sizeof(flag), "--%s", options[idx].name);
		else
			snprintf(flag, sizeof(flag), "%.*s", (int)strcspn(arg, "="), arg);
		/* getopt_long takes an unambiguous prefix (--con for --control): not here */
		size_t n = strcspn(arg, "=");
		CL_ENSURE(idx < 0 || (n == strlen(flag) && strncmp(arg, flag, n) == 0), CL_EINVAL, "unknown flag %.*s",
			  (int)n, arg);
		if (opt == OPT_HELP) {
			cfg->help = true;
			return CL_OK;
		}
		CL_ENSURE(opt != ':', CL_EINVAL, "%s needs a value", flag);
		CL_ENSURE(opt != '?', CL_EINVAL, "unknown flag %s", flag);
		CL_GUARD(apply_option(cfg, opt, flag, optarg));
	}
	CL_ENSURE(optind >= argc, CL_EINVAL, "unexpected argument %s (flags start with --; see --help)", argv[optind]);
	CL_ENSURE(cfg->control, CL_EINVAL, "--control URL is required");
	CL_ENSURE(strncmp(cfg->control, "https://", 8) == 0 && cfg->control[8] != '\0', CL_EINVAL,
		  "--control: expected an https:// URL");
	CL_ENSURE(strlen(cfg->control) < 512, CL_EINVAL, "--control: URL too long");
	CL_ENSURE(cfg->ca, CL_EINVAL, "--ca CAFILE is required");
	CL_ENSURE(cfg->data, CL_EINVAL, "--data DIR is required");
	CL_ENSURE(strlen(cfg->data) < 3000, CL_EINVAL, "--data: path too long");
	CL_ENSURE(!cfg->name || cl_agent_valid_name(cfg->name), CL_EINVAL,
		  "--name must match [a-z0-9][a-z0-9-]{0,62}");
	CL_ENSURE(!cfg->zone || cl_agent_valid_name(cfg->zone), CL_EINVAL,
		  "--zone must match [a-z0-9][a-z0-9-]{0,62}");
	CL_ENSURE(!cfg->rack || cl_agent_valid_name(cfg->rack), CL_EINVAL,
		  "--rack must match [a-z0-9][a-z0-9-]{0,62}");
	CL_ENSURE(!cfg->join_token || strlen(cfg->join_token) < 256, CL_EINVAL, "--join-token: too long");
	if (cfg->guest_pool) {
		cl_net_pool pool;
		char why[256];
		cl_err err = cl_net_pool_init(&pool, cfg->guest_pool);
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		CL_ENSURE(err == CL_OK, CL_EINVAL, "--guest-pool: %s", why);
	}
	struct in_addr in;
	CL_ENSURE(!cfg->tls_listen || inet_pton(AF_INET, cfg->tls_listen, &in) == 1, CL_EINVAL,
		  "--tls-listen: an IPv4 address (like 127.0.0.1)");
	return CL_OK;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cl_err cl_agent_join_token_parse(const char *text, size_t len, char *out, size_t outlen)
{
	size_t a = 0, b = len;
	while (a < b && blank(text[a]))
		a++;
	while (b > a && blank(text[b - 1]))
		b--;
	CL_ENSURE(b > a, CL_EINVAL, "the join token is empty");
	CL_ENSURE(b - a < outlen && b - a < CL_AGENT_JOIN_TOKEN_MAX, CL_EINVAL, "the join token is too long");
	for (size_t i = a; i < b; i++)
		CL_ENSURE(text[i] > 0x20 && text[i] < 0x7f, CL_EINVAL,
			  "the join token must be one line of printable characters without spaces");
	memcpy(out, text + a, b - a);
	out[b - a] = '\0';
	return CL_OK;
}

/* Reads path into out through cl_agent_join_token_parse, refusing a file
 * another user could read or replace. */
static cl_err read_token_file(const char *path, char *out, size_t outlen)
{
	char buf[CL_AGENT_JOIN_FILE_MAX + 1];
	struct stat st;
	size_t n = 0;
	cl_err err = CL_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	CL_ENSURE(fd >= 0, CL_ENOTFOUND, "--join-token-file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err = cl_errorf(CL_EINVAL, "--join-token-file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		err = cl_errorf(CL_EPERM, "--join-token-file %s: other users may access it (mode %03o): chmod 600 %s",
				path, (unsigned)(st.st_mode & 0777), path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		err = cl_errorf(CL_EPERM, "--join-token-file %s: owned by another user (uid %u)", path,
				(unsigned)st.st_uid);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_EIO, "--join-token-file %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == sizeof(buf)) {
			err = cl_errorf(CL_ETOOBIG, "--join-token-file %s: larger than %d bytes", path,
					CL_AGENT_JOIN_FILE_MAX);
			goto out;
		}
	}
	if ((err = cl_agent_join_token_parse(buf, n, out, outlen)) != CL_OK) {
		char why[128];
		snprintf(why, sizeof(why), "%s", cl_error_detail()); /* the detail is cl_errorf's own buffer */
		err = cl_errorf(err, "--join-token-file %s: %s", path, why);
	}
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return err;
}

cl_err cl_agent_join_token_resolve(const cl_agent_config *cfg, const char *env_value, char *out, size_t outlen)
{
	bool env = env_value && env_value[0];
	out[0] = '\0';
	CL_ENSURE((cfg->join_token_file != NULL) + env + (cfg->join_token != NULL) <= 1, CL_EINVAL,
		  "give the join token one way: --join-token-file, " CL_AGENT_JOIN_ENV " or --join-token");
	if (cfg->join_token_file)
		return read_token_file(cfg->join_token_file, out, outlen);
	const char *text = env ? env_value : cfg->join_token;
	if (!text)
		return CL_OK;
	cl_err err = cl_agent_join_token_parse(text, strlen(text), out, outlen);
	if (err != CL_OK) {
		char why[128];
		snprintf(why, sizeof(why), "%s", cl_error_detail()); /* the detail is cl_errorf's own buffer */
		return cl_errorf(err, "%s: %s", env ? CL_AGENT_JOIN_ENV : "--join-token", why);
	}
	return CL_OK;
}
