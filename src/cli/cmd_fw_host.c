/* cmd_fw_host.c — the firmware guard of the fleet's hosts, through the
 * control plane (docs/internals.md "Firmware in the sync protocol"):
 *   cloister fw push --host H --device ADDR BUNDLE [--next-boot] [--wait]
 *   cloister fw status --host H [--device-key ADDR [--out FILE]]
 *   cloister fw audit --host H [--verify] [--after N]
 *   cloister host power-cycle HOST [--wait]
 *   cloister host clear-quarantine HOST --reason TEXT [--wait]
 * Pages: docs/cli/fw-push.md, fw-status.md, fw-audit.md,
 * host-power-cycle.md, host-clear-quarantine.md. Admin token needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/util.h"
#include "fw/fw_limits.h"

#define PUSH_FILE_MAX FW_MAX_BUNDLE  /* the devices' (and the control plane's) bundle limit */
#define PUSH_INLINE_MAX (512u << 10) /* bigger bundles go as an upload in parts */
#define WAIT_MS 120000
#define POLL_MS 200
#define AUDIT_PAGE 500 /* CTL_PAGE_MAX */
#define AUDIT_MAX_PAGES 10000

static void nap_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static cl_err host_path(const char *host, const char *suffix, char *out, size_t n)
{
	CL_ENSURE(host && cl_cli_valid_id(host), CL_EINVAL, "invalid host id '%.64s'", host ? host : "");
	CL_ENSURE(snprintf(out, n, "/v1/hosts/%s%s", host, suffix) < (int)n, CL_EINVAL, "host id too long");
	return CL_OK;
}

/* Polls the op until it leaves "pending" (or the deadline). *final gets it. */
static cl_err wait_op(cl_cli_conn *c, const char *host, const char *op, json_t **final)
{
	char path[512], suffix[160];
	*final = NULL;
	CL_ENSURE(cl_cli_valid_id(op), CL_EPROTO, "server sent an invalid op id");
	snprintf(suffix, sizeof(suffix), "/fw/ops/%s", op);
	CL_GUARD(host_path(host, suffix, path, sizeof(path)));
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)WAIT_MS * 1000000u;
	for (;;) {
		json_t *o = NULL;
		CL_GUARD(cl_cli_call(c, "GET", path, NULL, &o, NULL));
		const char *state = json_string_value(json_object_get(o, "state"));
		if (state && strcmp(state, "pending") != 0) {
			*final = o;
			return CL_OK;
		}
		json_decref(o);
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "op %s still pending after %d s (is the host's agent running?)", op,
					 WAIT_MS / 1000);
		nap_ms(POLL_MS);
	}
}

/* Prints the outcome of a finished op; returns the exit code (1 = refused,
 * with one error line). */
static int print_outcome(json_t *o)
{
	const char *state = json_string_value(json_object_get(o, "state"));
	const char *reason = json_string_value(json_object_get(o, "reason"));
	const char *err = json_string_value(json_object_get(o, "error"));
	json_int_t seq = json_integer_value(json_object_get(o, "audit_seq"));
	bool ok = state && strcmp(state, "ok") == 0;
	if (cl_cli_global()->json)
		cl_cli_print_json(o);
	else if (ok && seq > 0)
		printf("accepted (audit seq %lld)\n", (long long)seq);
	else if (ok)
		printf("accepted\n");
	else
		printf("refused: %s\n", reason ? reason : err ? err : "unknown");
	fflush(stdout);
	if (ok)
		return 0;
	fprintf(stderr, "error: the host refused op %s: %s\n", json_string_value(json_object_get(o, "op")),
		err ? err : reason ? reason : "refused");
	return CL_CLI_EXIT_FAIL;
}

/* Adds the bundle to a push body as inline base64 "bundle" (bundles up to
 * PUSH_INLINE_MAX; bigger ones go as an upload: cl_cli_upload_submit). */
static cl_err attach_bundle(json_t *body, const cl_buf *bundle)
{
	char *b64 = NULL;
	CL_GUARD(cl_base64_encode(bundle->data, bundle->len, &b64));
	int rc = json_object_set_new(body, "bundle", json_string(b64));
	free(b64);
	CL_ENSURE(rc == 0, CL_ENOMEM, "out of memory");
	return CL_OK;
}

/* POSTs body (plus the bundle, if any) to path (an op endpoint), then prints
 * the op or waits for it. */
static int post_op_bundle(const char *host, const char *suffix, json_t *body, const cl_buf *bundle, bool wait)
{
	cl_cli_conn *c = NULL;
	json_t *resp = NULL, *final = NULL;
	char path[512];
	int rc = 0;
	cl_err err;
	CL_GUARD_OUT(err, host_path(host, suffix, path, sizeof(path)));
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	if (bundle && bundle->len > PUSH_INLINE_MAX) {
		/* an upload in parts, deleted if the push is refused (or on Ctrl-C) */
		cl_cli_conn_set_timeout(c, 300000);
		err = cl_cli_upload_submit(c, bundle->data, bundle->len, "POST", path, body, &resp);
		cl_cli_conn_set_timeout(c, 30000);
	} else {
		if (bundle)
			CL_GUARD_OUT(err, attach_bundle(body, bundle));
		err = cl_cli_call(c, "POST", path, body, &resp, NULL);
	}
	CL_GUARD_OUT(err, err);
	const char *op = json_string_value(json_object_get(resp, "op"));
	if (!op) {
		err = cl_errorf(CL_EPROTO, "server accepted the request without an op id");
		goto out;
	}
	if (!wait) {
		if (cl_cli_global()->json)
			cl_cli_print_json(resp);
		else
			printf("op %s queued for host %s (pending; see 'cloister fw audit --host %s')\n", op, host, host);
		goto out;
	}
	CL_GUARD_OUT(err, wait_op(c, host, op, &final));
	rc = print_outcome(final);
out:
	json_decref(final);
	json_decref(resp);
	cl_cli_conn_free(c);
	return err != CL_OK ? cl_cli_fail(err) : rc;
}

static int post_op(const char *host, const char *suffix, json_t *body, bool wait)
{
	return post_op_bundle(host, suffix, body, NULL, wait);
}

static const char push_usage[] =
	"usage: cloister fw push --host HOST --device ADDR [--next-boot] [--wait] BUNDLE\n"
	"\n"
	"Sends a signed firmware bundle to a device of a host through the control\n"
	"plane; the host's agent installs it on its management port inside the\n"
	"device's mutability window (or, with --next-boot, queues it for the next\n"
	"power-on). --wait waits for the host's answer and prints accepted or\n"
	"refused: REASON (exit 1 when refused). Bundles up to 64 MiB; one over\n"
	"512 KiB is sent as an upload in parts first.\n";

int cl_cmd_fw_push(int argc, char **argv)
{
	const char *host = NULL, *device = NULL, *pos[1];
	bool next_boot = false, wait = false;
	size_t npos = 0;
	int rc;
	const cl_cli_option opts[] = {{"host", CL_OPT_VALUE, NULL, &host, NULL, 0, NULL, 0},
				      {"device", CL_OPT_VALUE, NULL, &device, NULL, 0, NULL, 0},
				      {"next-boot", CL_OPT_FLAG, &next_boot, NULL, NULL, 0, NULL, 0},
				      {"wait", CL_OPT_FLAG, &wait, NULL, NULL, 0, NULL, 0},
				      {0}};
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, push_usage, &rc))
		return rc;
	if (!host || !device || npos != 1)
		return cl_cli_usage("fw push needs --host HOST, --device ADDR and a BUNDLE file");
	cl_buf file;
	cl_buf_init(&file, PUSH_FILE_MAX);
	cl_err err = cl_file_read(pos[0], PUSH_FILE_MAX, &file);
	if (err != CL_OK) {
		cl_buf_free(&file);
		return cl_cli_fail(cl_cli_error_context(err, "%.200s", pos[0]));
	}
	json_t *body = json_pack("{s:s, s:b}", "device", device, "next_boot", next_boot);
	rc = body ? post_op_bundle(host, "/fw/push", body, &file, wait) : cl_cli_fail(cl_errorf(CL_ENOMEM, "out of memory"));
	json_decref(body);
	cl_buf_free(&file);
	return rc;
}

static const char power_usage[] = "usage: cloister host power-cycle HOST [--wait]\n"
				  "\n"
				  "Power-cycles a host's devices through the control plane: every device\n"
				  "boots again, queued firmware is applied and the mutability window\n"
				  "opens (the host is not eligible for enclaves until it closes).\n"
				  "--wait waits for the host's answer.\n";

int cl_cmd_host_power_cycle(int argc, char **argv)
{
	const char *pos[1];
	bool wait = false;
	size_t npos = 0;
	int rc;
	const cl_cli_option opts[] = {{"wait", CL_OPT_FLAG, &wait, NULL, NULL, 0, NULL, 0}, {0}};
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, power_usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("host power-cycle needs a HOST id");
	json_t *body = json_object();
	rc = body ? post_op(pos[0], "/power-cycle", body, wait) : cl_cli_fail(CL_ENOMEM);
	json_decref(body);
	return rc;
}

static const char clear_usage[] = "usage: cloister host clear-quarantine HOST --reason TEXT [--wait]\n"
				  "\n"
				  "Clears a host's firmware quarantine (an operator action, audited on the\n"
				  "host with the reason). --wait waits for the host's answer.\n";

int cl_cmd_host_clear_quarantine(int argc, char **argv)
{
	const char *pos[1], *reason = NULL;
	bool wait = false;
	size_t npos = 0;
	int rc;
	const cl_cli_option opts[] = {{"reason", CL_OPT_VALUE, NULL, &reason, NULL, 0, NULL, 0},
				      {"wait", CL_OPT_FLAG, &wait, NULL, NULL, 0, NULL, 0},
				      {0}};
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, clear_usage, &rc))
		return rc;
	if (npos != 1 || !reason || !reason[0])
		return cl_cli_usage("host clear-quarantine needs a HOST id and --reason TEXT");
	json_t *body = json_pack("{s:s}", "reason", reason);
	rc = body ? post_op(pos[0], "/clear-quarantine", body, wait) : cl_cli_fail(CL_ENOMEM);
	json_decref(body);
	return rc;
}

static const char status_usage[] =
	"usage: cloister fw status --host HOST [--device-key ADDR [--out FILE]]\n"
	"\n"
	"Shows a host's firmware guard as last reported by the host: eligibility\n"
	"for enclaves, quarantine, and per device: bus address, name, firmware\n"
	"version, sequence, active slot, security counter, mutability window\n"
	"and whether the device is locked; a line for an audit log found tampered\n"
	"with. Global --json prints the API answer\n"
	"(each device's public key in \"device_key\").\n"
	"--device-key ADDR writes the public key (PEM) of the device at ADDR to\n"
	"FILE (--out), or prints it: the key `cloister fw sign --encrypt-to` takes\n"
	"to encrypt a bundle that only that device can install.\n";

/* The reported public key of device addr in resp, or NULL. */
static const char *device_key_of(json_t *resp, const char *addr)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(resp, "devices"), i, d)
	{
		const char *a = json_string_value(json_object_get(d, "addr"));
		if (a && strcmp(a, addr) == 0)
			return json_string_value(json_object_get(d, "device_key"));
	}
	return NULL;
}

/* --device-key: writes (or prints) one device's public key. */
static cl_err write_device_key(json_t *resp, const char *host, const char *addr, const char *out)
{
	const char *pem = device_key_of(resp, addr);
	CL_ENSURE(pem, CL_ENOTFOUND,
		  "host %.64s reports no device key for %.64s (no such device, no report yet, or an agent "
		  "older than device keys)",
		  host, addr);
	CL_ENSURE(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0, CL_EPROTO,
		  "the reported device key is not a PEM public key");
	if (!out) {
		fputs(pem, stdout);
		fflush(stdout);
		return CL_OK;
	}
	cl_err err = cl_file_write_atomic(out, pem, strlen(pem), 0644);
	if (err != CL_OK)
		return cl_cli_error_context(err, "%.200s", out);
	printf("wrote the device key of %s to %s\n", addr, out);
	return CL_OK;
}

static const char *yesno(json_t *v)
{
	return json_is_true(v) ? "yes" : json_is_false(v) ? "no" : "-";
}

int cl_cmd_fw_status(int argc, char **argv)
{
	const char *host = NULL, *devkey = NULL, *out_file = NULL, *pos[1];
	size_t npos = 0;
	int rc;
	const cl_cli_option opts[] = {{"host", CL_OPT_VALUE, NULL, &host, NULL, 0, NULL, 0},
				      {"device-key", CL_OPT_VALUE, NULL, &devkey, NULL, 0, NULL, 0},
				      {"out", CL_OPT_VALUE, NULL, &out_file, NULL, 0, NULL, 0},
				      {0}};
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, status_usage, &rc))
		return rc;
	if (!host)
		return cl_cli_usage("fw status needs --host HOST");
	if (out_file && !devkey)
		return cl_cli_usage("fw status: --out needs --device-key ADDR");
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	cl_cli_table *t = NULL;
	char path[512];
	cl_err err;
	CL_GUARD_OUT(err, host_path(host, "/fw", path, sizeof(path)));
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &resp, NULL));
	if (devkey) {
		err = write_device_key(resp, host, devkey, out_file);
		goto out;
	}
	if (cl_cli_global()->json) {
		cl_cli_print_json(resp);
		goto out;
	}
	if (json_is_false(json_object_get(resp, "reported"))) {
		printf("host %s reports no firmware guard (eligible)\n", host);
		goto out;
	}
	printf("host %s: eligible %s, quarantined %s, window open %s\n", host, yesno(json_object_get(resp, "eligible")),
	       yesno(json_object_get(resp, "quarantined")), yesno(json_object_get(resp, "window_open")));
	json_t *tam = json_object_get(json_object_get(resp, "audit"), "tampered");
	if (json_is_object(tam))
		printf("audit log TAMPERED WITH from seq %lld: %s\n", (long long)json_integer_value(json_object_get(tam, "seq")),
		       json_string_value(json_object_get(tam, "why")) ? json_string_value(json_object_get(tam, "why")) : "");
	static const char *const header[] = {"ADDR", "NAME", "VERSION", "SEQUENCE", "SLOT", "COUNTER", "WINDOW",
					     "LOCKED"};
	CL_GUARD_OUT(err, cl_cli_table_new(8, header, &t));
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(resp, "devices"), i, d)
	{
		char b[6][96], win[48];
		static const char *const keys[] = {"addr", "name", "version", "sequence", "active_slot", "counter"};
		const char *row[8];
		for (int k = 0; k < 6; k++)
			row[k] = cl_cli_json_text(json_object_get(d, keys[k]), b[k], sizeof(b[k]));
		if (json_is_true(json_object_get(d, "window_open")))
			snprintf(win, sizeof(win), "open (%llds)",
				 (long long)json_integer_value(json_object_get(d, "window_left_s")));
		else
			snprintf(win, sizeof(win), "closed");
		row[6] = win;
		row[7] = yesno(json_object_get(d, "locked"));
		CL_GUARD_OUT(err, cl_cli_table_add(t, row));
	}
	cl_cli_table_print(t);
out:
	cl_cli_table_free(t);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static const char audit_usage[] =
	"usage: cloister fw audit --host HOST [--verify] [--after SEQ]\n"
	"\n"
	"Lists a host's firmware audit records as stored by the control plane\n"
	"(every update, refusal, power-on and quarantine clear, hash-chained).\n"
	"--after SEQ starts after that record. --verify compares the host's chain\n"
	"with the control plane's copy: the copy itself (every record's link to\n"
	"the one before it), and the host's own chain as it last reported it (its\n"
	"head, and any tampering it found: an edit, a deletion, a reorder, a cut,\n"
	"or a cut and regrowth). It prints \"chain verified: N records\" or the\n"
	"first difference, \"first difference at seq N: WHY\" (exit 1).\n"
	"Global --json prints the records as JSON.\n";

/* Checks consecutive seq and prev = previous hash over items; 0 = ok, else
 * the first bad seq. prev_hash/prev_seq carry over between pages. */
static json_int_t link_check(json_t *items, json_int_t *prev_seq, char *prev_hash, size_t n)
{
	size_t i;
	json_t *r;
	json_array_foreach(items, i, r)
	{
		json_int_t seq = json_integer_value(json_object_get(r, "seq"));
		const char *hash = json_string_value(json_object_get(r, "hash"));
		const char *prev = json_string_value(json_object_get(r, "prev"));
		if (seq != *prev_seq + 1)
			return *prev_seq + 1;
		if (!hash || !prev || (prev_hash[0] && strcmp(prev, prev_hash) != 0) ||
		    (seq == 1 && strspn(prev, "0") != 64))
			return seq;
		*prev_seq = seq;
		snprintf(prev_hash, n, "%s", hash);
	}
	return 0;
}

/* The first difference between the host's chain (its report: head and
 * tamper finding, GET /v1/hosts/{id}/fw) and the control plane's copy
 * (records, first_bad from the copy's own check). *at = 0 when none. */
static void first_difference(json_t *status, json_t *records, json_int_t copy_bad, json_int_t *at, char *why,
			     size_t n)
{
	json_t *audit = json_object_get(status, "audit"), *tam = json_object_get(audit, "tampered");
	*at = 0;
	why[0] = '\0';
	if (copy_bad) {
		*at = copy_bad;
		snprintf(why, n, "the control plane's copy does not chain at seq %lld", (long long)copy_bad);
	}
	if (json_is_object(tam)) {
		json_int_t seq = json_integer_value(json_object_get(tam, "seq"));
		const char *w = json_string_value(json_object_get(tam, "why"));
		if (!*at || seq < *at) {
			*at = seq > 0 ? seq : 1;
			snprintf(why, n, "%s", w ? w : "the host's log was tampered with");
		}
		return;
	}
	/* No finding from the host: its head must be the copy's record. */
	json_int_t head = json_integer_value(json_object_get(audit, "head_seq"));
	const char *hh = json_string_value(json_object_get(audit, "head_hash"));
	size_t nrec = json_array_size(records);
	json_int_t last = nrec ? json_integer_value(json_object_get(json_array_get(records, nrec - 1), "seq")) : 0;
	if (!hh || !json_is_object(audit))
		return; /* the host does not report its head (older agent) */
	if (head < last && (!*at || head + 1 < *at)) {
		*at = head + 1;
		snprintf(why, n, "the host's log ends at seq %lld; the control plane holds records up to %lld",
			 (long long)head, (long long)last);
		return;
	}
	size_t i;
	json_t *r;
	json_array_foreach(records, i, r)
	{
		if (json_integer_value(json_object_get(r, "seq")) != head)
			continue;
		const char *h = json_string_value(json_object_get(r, "hash"));
		if ((!h || strcmp(h, hh) != 0) && (!*at || head < *at)) {
			*at = head;
			snprintf(why, n, "the host's record %lld differs from the control plane's copy", (long long)head);
		}
	}
}

int cl_cmd_fw_audit(int argc, char **argv)
{
	const char *host = NULL, *after_s = NULL, *pos[1];
	bool verify = false;
	size_t npos = 0;
	int rc;
	uint64_t after = 0;
	const cl_cli_option opts[] = {{"host", CL_OPT_VALUE, NULL, &host, NULL, 0, NULL, 0},
				      {"verify", CL_OPT_FLAG, &verify, NULL, NULL, 0, NULL, 0},
				      {"after", CL_OPT_VALUE, NULL, &after_s, NULL, 0, NULL, 0},
				      {0}};
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, audit_usage, &rc))
		return rc;
	if (!host)
		return cl_cli_usage("fw audit needs --host HOST");
	if (after_s && cl_cli_parse_uint(after_s, INT64_MAX, &after) != CL_OK)
		return cl_cli_usage("--after must be a record seq (a non-negative integer)");
	cl_cli_conn *c = NULL;
	json_t *all = json_array(), *resp = NULL, *status = NULL;
	cl_cli_table *t = NULL;
	char base[512], path[640], prev_hash[65] = "", next[32] = "";
	json_int_t prev_seq = (json_int_t)after, bad = 0;
	bool chain_ok = true;
	json_int_t first_bad = 0, head = 0;
	cl_err err = all ? CL_OK : CL_ENOMEM;
	CL_GUARD_OUT(err, err);
	CL_GUARD_OUT(err, host_path(host, "/fw/audit", base, sizeof(base)));
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	if (after)
		snprintf(next, sizeof(next), "%llu", (unsigned long long)after);
	for (int page = 0;; page++) {
		if (page == AUDIT_MAX_PAGES) {
			err = cl_errorf(CL_ETOOBIG, "more than %d audit records", AUDIT_PAGE * AUDIT_MAX_PAGES);
			goto out;
		}
		snprintf(path, sizeof(path), "%s?limit=%d%s%s", base, AUDIT_PAGE, next[0] ? "&after=" : "", next);
		CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &resp, NULL));
		json_t *items = json_object_get(resp, "items");
		if (!json_is_array(items)) {
			err = cl_errorf(CL_EPROTO, "server sent an audit list without items");
			goto out;
		}
		chain_ok = chain_ok && !json_is_false(json_object_get(resp, "chain_ok"));
		if (!first_bad && json_is_integer(json_object_get(resp, "first_bad_seq")))
			first_bad = json_integer_value(json_object_get(resp, "first_bad_seq"));
		head = json_integer_value(json_object_get(resp, "head_seq"));
		if (!bad)
			bad = link_check(items, &prev_seq, prev_hash, sizeof(prev_hash));
		if (json_array_extend(all, items) != 0) {
			err = cl_errorf(CL_ENOMEM, "out of memory");
			goto out;
		}
		/* "next": the last seq of this page as a string, null at the end */
		const char *nx = json_string_value(json_object_get(resp, "next"));
		bool more = nx && strlen(nx) < sizeof(next) && strspn(nx, "0123456789") == strlen(nx) &&
			    strcmp(nx, next) != 0;
		if (more)
			snprintf(next, sizeof(next), "%s", nx);
		json_decref(resp);
		resp = NULL;
		if (!more)
			break;
	}
	if (cl_cli_global()->json) {
		cl_cli_print_json(all);
	} else {
		static const char *const header[] = {"SEQ", "TIME", "SOURCE", "OP", "DEVICE", "VERSION", "RESULT",
						     "REASON", "ACTION"};
		CL_GUARD_OUT(err, cl_cli_table_new(9, header, &t));
		size_t i;
		json_t *r;
		json_array_foreach(all, i, r)
		{
			char b[9][96];
			static const char *const keys[] = {"seq", "time", "source", "op", "device", "version", "result",
							   "reason", "action"};
			const char *row[9];
			for (int k = 0; k < 9; k++)
				row[k] = cl_cli_json_text(json_object_get(r, keys[k]), b[k], sizeof(b[k]));
			time_t secs = (time_t)(json_integer_value(json_object_get(r, "time")) / 1000);
			struct tm tm;
			if (secs > 0 && gmtime_r(&secs, &tm))
				strftime(b[1], sizeof(b[1]), "%Y-%m-%dT%H:%M:%SZ", &tm);
			CL_GUARD_OUT(err, cl_cli_table_add(t, row));
		}
		cl_cli_table_print(t);
	}
	if (verify) {
		json_int_t copy_bad = !chain_ok && first_bad ? first_bad : bad;
		if (!chain_ok && !copy_bad)
			copy_bad = 1;
		if (bad && (!copy_bad || bad < copy_bad))
			copy_bad = bad;
		/* The host's side: its chain as it last reported it. */
		char spath[512], why[256];
		json_int_t at = 0;
		CL_GUARD_OUT(err, host_path(host, "/fw", spath, sizeof(spath)));
		CL_GUARD_OUT(err, cl_cli_call(c, "GET", spath, NULL, &status, NULL));
		first_difference(status, after ? NULL : all, copy_bad, &at, why, sizeof(why));
		if (at) {
			printf("first difference at seq %lld: %s\n", (long long)at, why);
			fflush(stdout);
			err = cl_errorf(CL_ECRYPTO, "the firmware audit chain of host %s differs at seq %lld", host,
					(long long)at);
			goto out;
		}
		printf("chain verified: %lld records\n", (long long)(head > prev_seq ? head : prev_seq));
	}
out:
	cl_cli_table_free(t);
	json_decref(resp);
	json_decref(status);
	json_decref(all);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}
