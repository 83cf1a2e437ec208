/* cmd_fw_verify.c — `cloister fw inspect` (decode, verify nothing) and
 * `cloister fw verify` (the device's verifier, offline: the same library
 * code a root of trust runs, with the host's OpenSSL ops). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd_fw.h"
#include "common/util.h"
#include "fw/fw_tools.h"

#define BUNDLE_FILE_MAX ((size_t)FW_MAX_IMAGE + 64 * 1024)
#define TR_FILE_MAX (64 * 1024)

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char hex[2 * FW_POINT_LEN + 1];
	cl_hex_encode(p, n, hex);
	return json_string(hex);
}

static json_t *bundle_json(const fw_bundle_view *v)
{
	char uuid[40];
	const fw_manifest *m = &v->m;
	json_t *o = json_object(), *sigs = json_array();
	fw_uuid_format(m->vendor, uuid);
	json_object_set_new(o, "vendor", json_string(uuid));
	fw_uuid_format(m->class_id, uuid);
	json_object_set_new(o, "class", json_string(uuid));
	json_object_set_new(o, "component", json_string(m->component));
	json_object_set_new(o, "version", json_string(m->version));
	/* JSON integers are signed 64-bit here: a larger sequence goes out as a decimal string. */
	if (m->sequence <= INT64_MAX) {
		json_object_set_new(o, "sequence", json_integer((json_int_t)m->sequence));
	} else {
		char seq[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)m->sequence);
		json_object_set_new(o, "sequence", json_string(seq));
	}
	json_object_set_new(o, "channel", json_string(m->channel));
	json_object_set_new(o, "image_sha384", hex_json(m->digest, FW_DIGEST_LEN));
	json_object_set_new(o, "image_size", json_integer((json_int_t)m->size));
	json_object_set_new(o, "use_before", m->has_use_before && m->use_before <= INT64_MAX
						     ? json_integer((json_int_t)m->use_before)
						     : json_null());
	json_object_set_new(o, "encrypted", json_boolean(m->encrypted));
	for (size_t i = 0; i < v->nsig; i++)
		json_array_append_new(sigs, hex_json(v->sig[i].kid, FW_KID_LEN));
	json_object_set_new(o, "signer_kids", sigs);
	json_object_set_new(o, "manifest_bytes", json_integer((json_int_t)v->manifest_len));
	return o;
}

int cl_cmd_fw_inspect(int argc, char **argv)
{
	bool as_json = false;
	const char *pos[1];
	size_t npos;
	const cl_cli_option opts[] = {{.name = "json", .kind = CL_OPT_FLAG, .flag = &as_json}, {0}};
	int rc = cl_cli_parse_or_usage(argc, argv, opts, pos, 1, &npos);
	if (rc)
		return rc;
	as_json = as_json || cl_cli_global()->json; /* main.c lifts --json out as a global option */
	if (npos != 1)
		return cl_cli_usage("usage: cloister fw inspect [--json] BUNDLE");
	cl_buf in;
	cl_err err;
	fw_bundle_view *v = calloc(1, sizeof(*v));
	cl_buf_init(&in, BUNDLE_FILE_MAX);
	if (!v) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_file_read(pos[0], BUNDLE_FILE_MAX, &in));
	fw_status s = fw_bundle_parse(in.data, in.len, v);
	if (s != FW_OK) {
		err = cl_errorf(CL_EINVAL, "%s is not a valid bundle: %s (%s)", pos[0], fw_status_name(s), fw_status_str(s));
		goto out;
	}
	json_t *o = bundle_json(v);
	if (as_json) {
		char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (txt)
			puts(txt);
		free(txt);
	} else {
		const char *key;
		json_t *val;
		printf("bundle %s (unverified: use 'fw verify')\n", pos[0]);
		json_object_foreach(o, key, val)
		{
			if (json_is_array(val)) {
				printf("  %-14s %zu\n", key, json_array_size(val));
				size_t i;
				json_t *e;
				json_array_foreach(val, i, e) printf("    %s\n", json_string_value(e));
			} else {
				char *t = json_dumps(val, JSON_ENCODE_ANY);
				printf("  %-14s %s\n", key, t ? t : "?");
				free(t);
			}
		}
	}
	json_decref(o);
out:
	free(v);
	cl_buf_free(&in);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}

typedef struct verify_args {
	const char *root, *vendor, *class_id, *component, *counter, *now, *floor, *device_key, *out;
	const char *trs[32];
	size_t ntrs;
} verify_args;

/* Root key + trust-root chain -> trust state, as a device would build it. */
static cl_err load_trust(const verify_args *a, const fw_ops *ops, fw_trust *t, fw_trust *scratch)
{
	void *rk = NULL;
	uint8_t root[FW_POINT_LEN];
	cl_buf doc;
	cl_err err = CL_OK;
	CL_GUARD(fw_key_load_public(a->root, &rk));
	err = fw_key_point(rk, root);
	fw_key_free(rk);
	CL_GUARD(err);
	if (fw_trust_init(t, root, ops) != FW_OK)
		return cl_errorf(CL_ECRYPTO, "cannot use the root key");
	cl_buf_init(&doc, TR_FILE_MAX);
	for (size_t i = 0; i < a->ntrs; i++) {
		CL_GUARD_OUT(err, cl_file_read(a->trs[i], TR_FILE_MAX, &doc));
		fw_status s = fw_trust_apply(t, scratch, doc.data, doc.len, ops);
		if (s != FW_OK) {
			printf("refused: %s\n", fw_status_name(s));
			err = cl_errorf(CL_EAUTH, "trust root %s refused: %s (%s)", a->trs[i], fw_status_name(s),
					fw_status_str(s));
			goto out;
		}
	}
out:
	cl_buf_free(&doc);
	return err;
}

static cl_err run_verify(const verify_args *a, const char *bundle_path)
{
	fw_device dev = {.component = a->component, .now = (uint64_t)time(NULL)};
	fw_trust *t = calloc(2, sizeof(*t));
	fw_ops ops;
	fw_result res;
	void *dk = NULL;
	uint8_t *dest = NULL;
	cl_buf in;
	cl_err err = CL_OK;
	cl_buf_init(&in, BUNDLE_FILE_MAX);
	if (!t)
		return CL_ENOMEM;
	CL_GUARD_OUT(err, fw_uuid_parse(a->vendor, dev.vendor));
	CL_GUARD_OUT(err, fw_uuid_parse(a->class_id, dev.class_id));
	CL_GUARD_OUT(err, cl_cli_fw_u64(a->counter, "--counter", &dev.counter));
	if (a->now)
		CL_GUARD_OUT(err, cl_cli_fw_u64(a->now, "--now", &dev.now));
	if (a->floor)
		CL_GUARD_OUT(err, cl_cli_fw_u64(a->floor, "--trust-floor", &dev.trust_floor));
	if (a->device_key)
		CL_GUARD_OUT(err, fw_key_load_private(a->device_key, &dk));
	fw_openssl_ops(&ops, dk);
	CL_GUARD_OUT(err, cl_file_read(bundle_path, BUNDLE_FILE_MAX, &in));
	CL_GUARD_OUT(err, load_trust(a, &ops, &t[0], &t[1]));
	/* The destination is sized to the input: the image cannot be larger. */
	dest = malloc(in.len ? in.len : 1);
	if (!dest) {
		err = CL_ENOMEM;
		goto out;
	}
	fw_status s = fw_verify_bundle(&t[0], &dev, &ops, in.data, in.len, dest, in.len, &res);
	if (s != FW_OK) {
		printf("refused: %s\n", fw_status_name(s));
		err = cl_errorf(CL_EAUTH, "bundle refused: %s (%s)", fw_status_name(s), fw_status_str(s));
		goto out;
	}
	if (a->out)
		CL_GUARD_OUT(err, cl_file_write_atomic(a->out, dest, res.image_len, 0600));
	printf("accepted: version %s sequence %llu channel %s, %zu bytes, %zu distinct signers (threshold %llu, "
	       "trust root v%llu)\n",
	       res.version, (unsigned long long)res.sequence, res.channel, res.image_len, res.signers,
	       (unsigned long long)t[0].threshold, (unsigned long long)t[0].version);
out:
	if (dest)
		explicit_bzero(dest, in.len ? in.len : 1);
	free(dest);
	free(t);
	fw_key_free(dk);
	cl_buf_free(&in);
	return err;
}

int cl_cmd_fw_verify(int argc, char **argv)
{
	verify_args a = {0};
	const char *pos[1];
	size_t npos;
	const cl_cli_option opts[] = {
		{.name = "root", .kind = CL_OPT_VALUE, .value = &a.root},
		{.name = "trust-root", .kind = CL_OPT_LIST, .values = a.trs, .max_values = 32, .count = &a.ntrs},
		{.name = "vendor", .kind = CL_OPT_VALUE, .value = &a.vendor},
		{.name = "class", .kind = CL_OPT_VALUE, .value = &a.class_id},
		{.name = "component", .kind = CL_OPT_VALUE, .value = &a.component},
		{.name = "counter", .kind = CL_OPT_VALUE, .value = &a.counter},
		{.name = "now", .kind = CL_OPT_VALUE, .value = &a.now},
		{.name = "trust-floor", .kind = CL_OPT_VALUE, .value = &a.floor},
		{.name = "device-key", .kind = CL_OPT_VALUE, .value = &a.device_key},
		{.name = "out", .kind = CL_OPT_VALUE, .value = &a.out},
		{0},
	};
	int rc = cl_cli_parse_or_usage(argc, argv, opts, pos, 1, &npos);
	if (rc)
		return rc;
	if (!a.root || a.ntrs == 0 || !a.vendor || !a.class_id || !a.component || !a.counter || npos != 1)
		return cl_cli_usage("usage: cloister fw verify --root ROOT_PUB.pem --trust-root TR.cbor[,...] --vendor "
				    "UUID --class UUID --component ADDR --counter N BUNDLE");
	cl_err err = run_verify(&a, pos[0]);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}
