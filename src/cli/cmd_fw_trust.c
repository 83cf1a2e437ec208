/* cmd_fw_trust.c — the root's signed documents:
 *   `cloister fw trust-root sign|rotate`: versioned trust-root documents
 *   (signer keys + threshold) signed with COSE_Sign1. `rotate` checks
 *   locally, before writing anything, that the keys given meet both the
 *   previous and the new threshold (what a device will demand);
 *   `cloister fw window-policy`: a window policy bound to one device of one
 *   host (or, with --any, chosen explicitly, to every device), optionally
 *   one-shot for one power cycle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_fw.h"
#include "common/util.h"
#include "fw/fw_tools.h"

#define TR_FILE_MAX (64 * 1024)

typedef struct tr_args {
	const char *version, *threshold, *expires, *out, *prev, *root;
	const char *signers[FW_MAX_SIGNERS], *keys[FW_MAX_SIGNERS];
	size_t nsigners, nkeys;
} tr_args;

static void free_keys(void **k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fw_key_free(k[i]);
}

/* Loads the keys, builds the document into out. */
static cl_err build(const tr_args *a, uint64_t version, cl_buf *out)
{
	void *signers[FW_MAX_SIGNERS] = {0}, *keys[FW_MAX_SIGNERS] = {0};
	uint64_t k, expires = 0;
	cl_err err;
	CL_GUARD(cl_cli_fw_u64(a->threshold, "--threshold", &k));
	if (a->expires) {
		CL_GUARD(cl_cli_fw_u64(a->expires, "--expires", &expires));
		/* Accepted, a document already expired would refuse every bundle
		 * until the next rotation: devices refuse it, and so does this. */
		uint64_t now = cl_now_wall_ms() / 1000;
		CL_ENSURE(expires > now, CL_EINVAL,
			  "--expires %llu is not in the future (now %llu): every device would refuse the document "
			  "(trust_root_expired)",
			  (unsigned long long)expires, (unsigned long long)now);
	}
	for (size_t i = 0; i < a->nsigners; i++)
		CL_GUARD_OUT(err, fw_key_load_public(a->signers[i], &signers[i]));
	for (size_t i = 0; i < a->nkeys; i++)
		CL_GUARD_OUT(err, fw_key_load_private(a->keys[i], &keys[i]));
	err = fw_trust_build(version, k, (const void *const *)signers, a->nsigners, a->expires != NULL, expires,
			     (const void *const *)keys, a->nkeys, out);
out:
	free_keys(signers, a->nsigners);
	free_keys(keys, a->nkeys);
	return err;
}

/* Would a device holding prev accept next? */
static cl_err check_rotation(const tr_args *a, const cl_buf *prev, const cl_buf *next)
{
	fw_ops ops;
	fw_trust *t = calloc(2, sizeof(*t));
	uint8_t root[FW_POINT_LEN];
	void *rk = NULL;
	cl_err err = CL_OK;
	fw_status s;
	if (!t)
		return CL_ENOMEM;
	fw_openssl_ops(&ops, NULL);
	if (a->root) {
		CL_GUARD_OUT(err, fw_key_load_public(a->root, &rk));
		CL_GUARD_OUT(err, fw_key_point(rk, root));
	}
	s = fw_trust_assume(&t[0], prev->data, prev->len, a->root ? root : NULL, &ops);
	if (s != FW_OK) {
		err = cl_errorf(CL_EINVAL, "--prev is not a valid trust-root document: %s", fw_status_name(s));
		goto out;
	}
	s = fw_trust_apply(&t[0], &t[1], next->data, next->len, &ops);
	if (s != FW_OK)
		err = cl_errorf(CL_EAUTH,
				"a device would refuse this rotation (%s: %s); it needs %llu signatures of version "
				"%llu's keys and the new threshold of the new keys",
				fw_status_name(s), fw_status_str(s), (unsigned long long)t[0].threshold,
				(unsigned long long)t[0].version);
out:
	fw_key_free(rk);
	free(t);
	return err;
}

int cl_cmd_fw_trust_root(int argc, char **argv)
{
	tr_args a = {0};
	const char *pos[1];
	size_t npos;
	if (argc < 1 || (strcmp(argv[0], "sign") != 0 && strcmp(argv[0], "rotate") != 0))
		return cl_cli_usage("usage: cloister fw trust-root sign|rotate ...");
	bool rotate = strcmp(argv[0], "rotate") == 0;
	const cl_cli_option opts[] = {
		{.name = "version", .kind = CL_OPT_VALUE, .value = &a.version},
		{.name = "threshold", .kind = CL_OPT_VALUE, .value = &a.threshold},
		{.name = "expires", .kind = CL_OPT_VALUE, .value = &a.expires},
		{.name = "prev", .kind = CL_OPT_VALUE, .value = &a.prev},
		{.name = "root", .kind = CL_OPT_VALUE, .value = &a.root},
		{.name = "out", .kind = CL_OPT_VALUE, .value = &a.out, .short_name = 'o'},
		{.name = "signer",
		 .kind = CL_OPT_LIST,
		 .values = a.signers,
		 .max_values = FW_MAX_SIGNERS,
		 .count = &a.nsigners},
		{.name = "key", .kind = CL_OPT_LIST, .values = a.keys, .max_values = FW_MAX_SIGNERS, .count = &a.nkeys},
		{0},
	};
	int rc = cl_cli_parse_or_usage(argc - 1, argv + 1, opts, pos, 0, &npos);
	if (rc)
		return rc;
	if (!a.threshold || !a.out || a.nsigners == 0 || a.nkeys == 0)
		return cl_cli_usage("trust-root %s needs --threshold, --signer, --key and -o", argv[0]);
	if (rotate ? (!a.prev || a.version) : (!a.version || a.prev))
		return cl_cli_usage(rotate ? "trust-root rotate needs --prev (the version is prev + 1)"
					   : "trust-root sign needs --version (use rotate with --prev for N+1)");
	cl_buf prev, doc;
	uint64_t version = 0;
	cl_err err = CL_OK;
	cl_buf_init(&prev, TR_FILE_MAX);
	cl_buf_init(&doc, TR_FILE_MAX);
	if (rotate) {
		fw_trust_doc *d = calloc(1, sizeof(*d));
		fw_status s;
		if (!d) {
			err = CL_ENOMEM;
			goto out;
		}
		err = cl_file_read(a.prev, TR_FILE_MAX, &prev);
		s = err == CL_OK ? fw_trust_doc_parse(prev.data, prev.len, d) : FW_OK;
		version = d->version + 1;
		free(d);
		if (err != CL_OK)
			goto out;
		if (s != FW_OK) {
			err = cl_errorf(CL_EINVAL, "%s is not a trust-root document: %s", a.prev, fw_status_name(s));
			goto out;
		}
	} else {
		CL_GUARD_OUT(err, cl_cli_fw_u64(a.version, "--version", &version));
	}
	CL_GUARD_OUT(err, build(&a, version, &doc));
	if (rotate)
		CL_GUARD_OUT(err, check_rotation(&a, &prev, &doc));
	CL_GUARD_OUT(err, cl_file_write_atomic(a.out, doc.data, doc.len, 0644));
	printf("trust root version %llu: %zu signers, %zu signatures -> %s\n", (unsigned long long)version, a.nsigners,
	       a.nkeys, a.out);
out:
	cl_buf_free(&prev);
	cl_buf_free(&doc);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}

/* Fills the target from the options: one device of one host, or --any. */
static cl_err policy_target(const char *host, const char *dev, const char *vendor, const char *cls,
			    const char *devkey, bool any, fw_policy_target *t)
{
	void *k = NULL;
	bool some = host || dev || vendor || cls || devkey;
	CL_ENSURE(any != some, CL_EINVAL,
		  "name the policy's device (--host --device --vendor --class --device-key) or choose --any, not both");
	t->any = any;
	if (any)
		return CL_OK;
	CL_ENSURE(host && dev && vendor && cls && devkey, CL_EINVAL,
		  "a bound policy needs --host, --device, --vendor, --class and --device-key (see 'fw status "
		  "--device-key')");
	CL_GUARD(fw_uuid_parse(vendor, t->vendor));
	CL_GUARD(fw_uuid_parse(cls, t->class_id));
	CL_GUARD(fw_key_load_public(devkey, &k));
	cl_err err = fw_key_kid(k, t->device_kid);
	fw_key_free(k);
	t->component = dev;
	t->host_id = host;
	return err;
}

int cl_cmd_fw_window_policy(int argc, char **argv)
{
	const char *key_path = NULL, *version = NULL, *seconds = NULL, *cycle = NULL, *out = NULL, *pos[1];
	const char *host = NULL, *dev = NULL, *vendor = NULL, *cls = NULL, *devkey = NULL;
	bool any = false;
	size_t npos;
	const cl_cli_option opts[] = {
		{.name = "key", .kind = CL_OPT_VALUE, .value = &key_path},
		{.name = "version", .kind = CL_OPT_VALUE, .value = &version},
		{.name = "seconds", .kind = CL_OPT_VALUE, .value = &seconds},
		{.name = "power-cycle", .kind = CL_OPT_VALUE, .value = &cycle},
		{.name = "host", .kind = CL_OPT_VALUE, .value = &host},
		{.name = "device", .kind = CL_OPT_VALUE, .value = &dev},
		{.name = "vendor", .kind = CL_OPT_VALUE, .value = &vendor},
		{.name = "class", .kind = CL_OPT_VALUE, .value = &cls},
		{.name = "device-key", .kind = CL_OPT_VALUE, .value = &devkey},
		{.name = "any", .kind = CL_OPT_FLAG, .flag = &any},
		{.name = "out", .kind = CL_OPT_VALUE, .value = &out, .short_name = 'o'},
		{0},
	};
	int rc = cl_cli_parse_or_usage(argc, argv, opts, pos, 0, &npos);
	if (rc)
		return rc;
	if (!key_path || !version || !seconds || !out)
		return cl_cli_usage(
			"fw window-policy needs --key, --version, --seconds and -o (see 'cloister fw help')");
	fw_policy_params p;
	void *key = NULL;
	cl_buf doc;
	cl_err err;
	memset(&p, 0, sizeof(p));
	cl_buf_init(&doc, 4096);
	CL_GUARD_OUT(err, cl_cli_fw_u64(version, "--version", &p.version));
	CL_GUARD_OUT(err, cl_cli_fw_u64(seconds, "--seconds", &p.seconds));
	if (cycle) {
		CL_GUARD_OUT(err, cl_cli_fw_u64(cycle, "--power-cycle", &p.power_cycle));
		if (p.power_cycle == 0) {
			err = cl_errorf(CL_EINVAL, "--power-cycle must be 1..%llu (the host's power_cycle in fw status)",
					(unsigned long long)FW_UINT_MAX);
			goto out;
		}
	}
	CL_GUARD_OUT(err, policy_target(host, dev, vendor, cls, devkey, any, &p.target));
	CL_GUARD_OUT(err, fw_key_load_private(key_path, &key));
	CL_GUARD_OUT(err, fw_window_policy_build(key, &p, &doc));
	CL_GUARD_OUT(err, cl_file_write_atomic(out, doc.data, doc.len, 0644));
	if (any)
		printf("window policy v%llu: %llu s for ANY device of any host%s -> %s\n", (unsigned long long)p.version,
		       (unsigned long long)p.seconds, cycle ? " (one-shot)" : "", out);
	else
		printf("window policy v%llu: %llu s for %s on host %s%s -> %s\n", (unsigned long long)p.version,
		       (unsigned long long)p.seconds, dev, host, cycle ? " (one-shot)" : "", out);
out:
	fw_key_free(key);
	cl_buf_free(&doc);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}
