/* The agent's firmware guard (src/host/agent_fw.c, agent_proto_fw.c): the
 * "firmware" object built from a real device model in a temp dir, firmware
 * ops applied through the management port (accepted, refused and audited),
 * and the sync answer's firmware_ops / firmware_audit_ack parser. */
#include "test_fwdev_fixture.h"

#include <fcntl.h>
#include <jansson.h>

#include "control/validate.h"
#include "host/agent_fw.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const int K01[] = {0, 1};
static const int K45[] = {4, 5}; /* not in the trust root */

typedef struct ax {
	dx d; /* d.dir = the model's dir, d.h = the handle, d.f = keys */
	char tmp[40];
	char pem[96];
} ax;

static int ax_setup(void **state)
{
	ax *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	fx_init(&a->d.f);
	snprintf(a->tmp, sizeof(a->tmp), "/tmp/agentfw.XXXXXX");
	assert_non_null(mkdtemp(a->tmp));
	snprintf(a->d.dir, sizeof(a->d.dir), "%s/fw", a->tmp);
	snprintf(a->d.log, sizeof(a->d.log), "%s/audit.log", a->d.dir);
	snprintf(a->pem, sizeof(a->pem), "%s/root.pem", a->tmp);
	assert_int_equal(fw_key_save_public(a->d.f.root, a->pem), CL_OK);
	assert_int_equal(cl_agent_fw_open(a->d.dir, a->pem, &a->d.h), CL_OK);
	*state = a;
	return 0;
}

static int ax_teardown(void **state)
{
	ax *a = *state;
	fwg_host_close(a->d.h);
	assert_int_equal(cl_rm_rf(a->tmp), CL_OK);
	fx_free(&a->d.f);
	free(a);
	return 0;
}

static json_t *report(ax *a, uint64_t after, uint64_t *left)
{
	json_t *fw = NULL;
	uint64_t l = 0;
	assert_int_equal(cl_agent_fw_report(a->d.h, after, &fw, &l), CL_OK);
	assert_non_null(fw);
	if (left)
		*left = l;
	return fw;
}

static json_t *dev_json(json_t *fw, const char *addr)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(fw, "devices"), i, v) if (strcmp(json_string_value(json_object_get(v, "addr")),
									    addr) == 0) return v;
	fail();
	return NULL;
}

static json_t *run(ax *a, enum cl_agent_fw_kind kind, const char *dev, const uint8_t *data, size_t len,
		   const char *reason)
{
	cl_agent_fw_op op;
	memset(&op, 0, sizeof(op));
	snprintf(op.op, sizeof(op.op), "fw-test");
	op.kind = kind;
	snprintf(op.device, sizeof(op.device), "%s", dev ? dev : "");
	snprintf(op.reason, sizeof(op.reason), "%s", reason ? reason : "");
	if (data)
		assert_int_equal(cl_base64_encode(data, len, &op.data), CL_OK);
	json_t *res = cl_agent_fw_apply(a->d.h, &op);
	free(op.data);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "op")), "fw-test");
	return res;
}

static const char *sget(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static json_int_t iget(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void agent_trust_v1(ax *a)
{
	cl_buf doc;
	const int s[] = {0, 1, 2}, by[] = {-1};
	make_tr(&a->d.f, 1, 2, s, 3, by, 1, &doc);
	json_t *res = run(a, CL_FWOP_TRUST, NIC, doc.data, doc.len, NULL);
	assert_true(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	cl_buf_free(&doc);
}

static void first_start_manufactures_and_reports(void **state)
{
	ax *a = *state;
	uint64_t left = 0;
	json_t *fw = report(a, 0, &left);
	/* right after power-on the window is open: not eligible for tenants */
	assert_true(json_is_false(json_object_get(fw, "eligible")));
	assert_true(json_is_true(json_object_get(fw, "window_open")));
	assert_true(json_is_false(json_object_get(fw, "quarantined")));
	assert_true(left >= 1 && left <= FWG_DEFAULT_WINDOW_S);
	assert_int_equal(json_array_size(json_object_get(fw, "devices")), 3);
	json_t *nic = dev_json(fw, NIC);
	assert_string_equal(sget(nic, "name"), "nic");
	assert_string_equal(sget(nic, "vendor"), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
	assert_true(json_is_true(json_object_get(nic, "window_open")));
	assert_true(json_is_false(json_object_get(nic, "locked")));
	assert_int_equal(iget(nic, "sequence"), 0);
	assert_null(json_object_get(nic, "active_slot")); /* blank flash */
	assert_string_equal(sget(dev_json(fw, GPU), "name"), "gpu");
	assert_string_equal(sget(dev_json(fw, BMC), "name"), "bmc");
	/* the audit trail from seq 1, chained: prev of 1 = zeros, prev of n = hash of n-1 */
	json_t *aud = json_object_get(fw, "audit");
	assert_true(json_array_size(aud) >= 2);
	assert_int_equal(iget(json_array_get(aud, 0), "seq"), 1);
	assert_string_equal(sget(json_array_get(aud, 0), "prev"),
			    "0000000000000000000000000000000000000000000000000000000000000000");
	for (size_t i = 1; i < json_array_size(aud); i++) {
		assert_int_equal(iget(json_array_get(aud, i), "seq"), (json_int_t)i + 1);
		assert_string_equal(sget(json_array_get(aud, i), "prev"), sget(json_array_get(aud, i - 1), "hash"));
		assert_int_equal(strlen(sget(json_array_get(aud, i), "hash")), 64);
	}
	assert_string_equal(sget(json_array_get(aud, 0), "op"), "manufacture");
	json_decref(fw);
	/* a second start opens what is there: the key file is not read again */
	fwg_host_close(a->d.h);
	a->d.h = NULL;
	assert_int_equal(cl_agent_fw_open(a->d.dir, "/nonexistent/root.pem", &a->d.h), CL_OK);
	fw = report(a, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(fw, "devices")), 3);
	json_decref(fw);
}

static void missing_root_key_refuses_first_start(void **state)
{
	ax *a = *state;
	char dir[128];
	fwg_host *h = NULL;
	snprintf(dir, sizeof(dir), "%s/fw2", a->tmp);
	assert_int_not_equal(cl_agent_fw_open(dir, "/nonexistent/root.pem", &h), CL_OK);
	assert_null(h);
	assert_int_not_equal(access(dir, F_OK), 0); /* nothing manufactured */
}

static void update_accepted_shows_in_status_and_audit(void **state)
{
	ax *a = *state;
	cl_buf b5;
	agent_trust_v1(a);
	dev_bundle(&a->d, NIC, 5, 400, K01, 2, &b5);
	json_t *res = run(a, CL_FWOP_UPDATE, NIC, b5.data, b5.len, NULL);
	assert_true(json_is_true(json_object_get(res, "ok")));
	assert_string_equal(sget(res, "reason"), "ok");
	assert_null(json_object_get(res, "error"));
	json_int_t seq = iget(res, "audit_seq");
	assert_true(seq > 0);
	json_decref(res);
	json_t *fw = report(a, (uint64_t)seq - 1, NULL);
	json_t *nic = dev_json(fw, NIC);
	assert_int_equal(iget(nic, "sequence"), 5);
	assert_int_equal(iget(nic, "counter"), 5);
	assert_int_equal(iget(nic, "trust_version"), 1);
	assert_string_equal(sget(nic, "version"), "2.1.0");
	assert_true(strcmp(sget(nic, "active_slot"), "A") == 0 || strcmp(sget(nic, "active_slot"), "B") == 0);
	json_t *aud = json_object_get(fw, "audit");
	assert_int_equal(json_array_size(aud), 1); /* only what follows the ack */
	json_t *r = json_array_get(aud, 0);
	assert_int_equal(iget(r, "seq"), seq);
	assert_string_equal(sget(r, "op"), "update");
	assert_string_equal(sget(r, "source"), "mgmt");
	assert_string_equal(sget(r, "result"), "accepted");
	assert_string_equal(sget(r, "device"), NIC);
	assert_string_equal(sget(r, "version"), "2.1.0");
	assert_int_equal(iget(r, "sequence"), 5);
	assert_int_equal(strlen(sget(r, "digest")), 16);
	json_decref(fw);
	cl_buf_free(&b5);
}

static void bad_ops_refused_audited_and_change_nothing(void **state)
{
	ax *a = *state;
	cl_buf b5, evil;
	agent_trust_v1(a);
	dev_bundle(&a->d, NIC, 5, 400, K01, 2, &b5);
	json_decref(run(a, CL_FWOP_UPDATE, NIC, b5.data, b5.len, NULL));
	/* signed by keys the device does not trust */
	dev_bundle(&a->d, NIC, 9, 400, K45, 2, &evil);
	json_t *res = run(a, CL_FWOP_UPDATE, NIC, evil.data, evil.len, NULL);
	assert_true(json_is_false(json_object_get(res, "ok")));
	assert_string_equal(sget(res, "reason"), fwg_reason_name(FW_E_UNKNOWN_SIGNER));
	char want[128];
	snprintf(want, sizeof(want), "refused: %s", fwg_reason_name(FW_E_UNKNOWN_SIGNER));
	assert_string_equal(sget(res, "error"), want);
	json_int_t seq = iget(res, "audit_seq");
	assert_true(seq > 0);
	json_decref(res);
	json_t *fw = report(a, (uint64_t)seq - 1, NULL);
	assert_int_equal(iget(dev_json(fw, NIC), "sequence"), 5); /* unchanged */
	json_t *r = json_array_get(json_object_get(fw, "audit"), 0);
	assert_string_equal(sget(r, "result"), "refused");
	assert_string_equal(sget(r, "reason"), fwg_reason_name(FW_E_UNKNOWN_SIGNER));
	assert_string_equal(sget(r, "action"), "alarm");
	assert_int_equal(iget(r, "sequence"), 9); /* what it claimed */
	json_decref(fw);
	/* replaying the installed bundle is a rollback */
	res = run(a, CL_FWOP_UPDATE, NIC, b5.data, b5.len, NULL);
	assert_string_equal(sget(res, "reason"), fwg_reason_name(FW_E_ROLLBACK));
	json_decref(res);
	/* no such device */
	res = run(a, CL_FWOP_UPDATE, "0000:99:00.0", b5.data, b5.len, NULL);
	assert_true(json_is_false(json_object_get(res, "ok")));
	assert_string_equal(sget(res, "reason"), "no_device");
	assert_true(iget(res, "audit_seq") > seq);
	json_decref(res);
	/* data that is not base64: refused before the device, nothing audited */
	cl_agent_fw_op op;
	memset(&op, 0, sizeof(op));
	snprintf(op.op, sizeof(op.op), "fw-bad");
	op.kind = CL_FWOP_UPDATE;
	snprintf(op.device, sizeof(op.device), NIC);
	op.data = strdup("!!not base64!!");
	res = cl_agent_fw_apply(a->d.h, &op);
	free(op.data);
	assert_true(json_is_false(json_object_get(res, "ok")));
	assert_non_null(strstr(sget(res, "error"), "base64"));
	assert_null(json_object_get(res, "audit_seq"));
	json_decref(res);
	fw = report(a, 0, NULL);
	assert_int_equal(iget(dev_json(fw, NIC), "sequence"), 5);
	json_decref(fw);
	cl_buf_free(&b5);
	cl_buf_free(&evil);
}

static void queue_power_cycle_and_clear(void **state)
{
	ax *a = *state;
	cl_buf b7;
	agent_trust_v1(a);
	dev_bundle(&a->d, NIC, 7, 300, K01, 2, &b7);
	json_t *res = run(a, CL_FWOP_QUEUE, NIC, b7.data, b7.len, NULL);
	assert_true(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	json_t *fw = report(a, 0, NULL);
	assert_int_equal(iget(dev_json(fw, NIC), "pending"), 1);
	assert_int_equal(iget(dev_json(fw, NIC), "sequence"), 0);
	json_decref(fw);
	res = run(a, CL_FWOP_POWER_CYCLE, NULL, NULL, 0, NULL);
	assert_true(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	fw = report(a, 0, NULL);
	assert_int_equal(iget(dev_json(fw, NIC), "pending"), 0);
	assert_int_equal(iget(dev_json(fw, NIC), "sequence"), 7); /* applied at power-on */
	assert_true(json_is_true(json_object_get(fw, "window_open")));
	json_decref(fw);
	res = run(a, CL_FWOP_CLEAR_QUARANTINE, NULL, NULL, 0, "checked by ops");
	assert_true(json_is_true(json_object_get(res, "ok")));
	json_decref(res);
	json_t *last = NULL;
	assert_int_equal(cl_agent_fw_audit_after(a->d.h, 0, 100000, &last, NULL), CL_OK);
	json_t *r = json_array_get(last, json_array_size(last) - 1);
	assert_string_equal(sget(r, "op"), "clear_quarantine");
	assert_string_equal(sget(r, "source"), "operator");
	json_decref(last);
	cl_buf_free(&b7);
}

static void audit_after_is_bounded(void **state)
{
	ax *a = *state;
	json_t *all = NULL, *some = NULL, *none = NULL;
	assert_int_equal(cl_agent_fw_audit_after(a->d.h, 0, 1000, &all, NULL), CL_OK);
	size_t n = json_array_size(all);
	assert_true(n >= 2);
	assert_int_equal(cl_agent_fw_audit_after(a->d.h, 0, 1, &some, NULL), CL_OK);
	assert_int_equal(json_array_size(some), 1);
	assert_int_equal(cl_agent_fw_audit_after(a->d.h, n, 1000, &none, NULL), CL_OK);
	assert_int_equal(json_array_size(none), 0);
	json_decref(all);
	json_decref(some);
	json_decref(none);
}

/* --fw-root turns the guard on; off by default; no window flag exists. */
static void fw_root_flag(void **state)
{
	(void)state;
	cl_agent_config cfg;
	char *base[] = {"cloister-host", "--control", "https://c:1", "--ca", "ca.pem", "--data", "/d", NULL, NULL, NULL};
	assert_int_equal(cl_agent_parse_args(7, base, &cfg), CL_OK);
	assert_null(cfg.fw_root);
	base[7] = "--fw-root";
	base[8] = "/k/root.pub";
	assert_int_equal(cl_agent_parse_args(9, base, &cfg), CL_OK);
	assert_string_equal(cfg.fw_root, "/k/root.pub");
	char *twice[] = {"cloister-host", "--control", "https://c:1", "--ca", "ca.pem", "--data", "/d",
			 "--fw-root=/a", "--fw-root=/b"};
	assert_int_equal(cl_agent_parse_args(9, twice, &cfg), CL_EINVAL);
	char *empty[] = {"cloister-host", "--control", "https://c:1", "--ca", "ca.pem", "--data", "/d", "--fw-root="};
	assert_int_equal(cl_agent_parse_args(8, empty, &cfg), CL_EINVAL);
	char *window[] = {"cloister-host", "--control", "https://c:1", "--ca", "ca.pem", "--data", "/d",
			  "--fw-window-policy", "/p"};
	assert_int_equal(cl_agent_parse_args(9, window, &cfg), CL_EINVAL);
	assert_non_null(strstr(cl_agent_usage(), "--fw-root"));
}

/* While a window is open the long poll ends when it closes. */
static void wait_follows_the_window(void **state)
{
	(void)state;
	assert_int_equal(cl_agent_fw_wait_ms(20000, 0), 20000);   /* closed: the normal poll */
	assert_int_equal(cl_agent_fw_wait_ms(20000, 5), 5250);     /* closes first */
	assert_int_equal(cl_agent_fw_wait_ms(20000, 60), 20000);   /* the poll ends first */
	assert_int_equal(cl_agent_fw_wait_ms(1000, 1), 1000);
	assert_int_equal(cl_agent_fw_wait_ms(20000, UINT64_MAX), 20000); /* no overflow */
}

/* A bundle at the edge of every range the device holds is installed, and
 * the report carries the values exactly, in a form the control plane
 * accepts (before: the audit masked high bits and the control plane
 * refused counters above 2^62, so such a host was lost for good). */
static void edge_values_reported_exactly(void **state)
{
	ax *a = *state;
	cl_buf b;
	agent_trust_v1(a);
	dev_bundle(&a->d, NIC, FW_SEQ_MAX, 1, K01, 2, &b); /* the largest sequence, the smallest image */
	json_t *res = run(a, CL_FWOP_UPDATE, NIC, b.data, b.len, NULL);
	assert_true(json_is_true(json_object_get(res, "ok")));
	json_int_t seq = iget(res, "audit_seq");
	json_decref(res);
	json_t *fw = report(a, (uint64_t)seq - 1, NULL);
	json_t *nic = dev_json(fw, NIC);
	assert_true(json_is_integer(json_object_get(nic, "counter")));
	assert_int_equal(iget(nic, "counter"), INT64_MAX);
	assert_int_equal(iget(nic, "sequence"), INT64_MAX);
	json_t *r = json_array_get(json_object_get(fw, "audit"), 0);
	assert_int_equal(iget(r, "sequence"), INT64_MAX);
	ctl_fw_report *rep = malloc(sizeof(*rep));
	assert_non_null(rep);
	assert_int_equal(ctl_parse_fw_report(fw, rep), CL_OK);
	free(rep);
	json_decref(fw);
	cl_buf_free(&b);
}

/* The agent's report of its audit log: the head it verified, and, once the
 * log was changed behind its back, the tampering instead of records. */
static void tampered_log_fails_closed_and_is_reported(void **state)
{
	ax *a = *state;
	json_t *fw = report(a, 0, NULL);
	json_t *head = json_object_get(fw, "audit_head"), *aud = json_object_get(fw, "audit");
	json_t *last = json_array_get(aud, json_array_size(aud) - 1);
	assert_int_equal(iget(head, "seq"), iget(last, "seq"));
	assert_string_equal(sget(head, "hash"), sget(last, "hash"));
	assert_null(json_object_get(fw, "audit_tampered"));
	assert_true(iget(fw, "power_cycle") >= 1);
	json_decref(fw);
	/* An edit in place of record 1 (a byte of its detail). */
	cl_buf log;
	cl_buf_init(&log, 1 << 20);
	assert_int_equal(cl_file_read(a->d.log, log.max, &log), CL_OK);
	int fd = open(a->d.log, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	uint8_t c = log.data[FWA_MAGIC_LEN + 2 + 70] ^ 0x01;
	assert_int_equal(pwrite(fd, &c, 1, FWA_MAGIC_LEN + 2 + 70), 1);
	close(fd);
	fw = report(a, 0, NULL);
	json_t *t = json_object_get(fw, "audit_tampered");
	assert_non_null(t);
	assert_int_equal(iget(t, "seq"), 1);
	assert_true(json_is_true(json_object_get(fw, "quarantined")));
	assert_true(json_is_false(json_object_get(fw, "eligible")));
	assert_int_equal(json_array_size(json_object_get(fw, "audit")), 0); /* nothing ships */
	ctl_fw_report *rep = malloc(sizeof(*rep));
	assert_non_null(rep);
	assert_int_equal(ctl_parse_fw_report(fw, rep), CL_OK);
	assert_true(rep->tampered);
	free(rep);
	json_decref(fw);
	/* Fail closed: no change without its record. */
	json_t *res = run(a, CL_FWOP_POWER_CYCLE, NULL, NULL, 0, NULL);
	assert_true(json_is_false(json_object_get(res, "ok")));
	json_decref(res);
	cl_buf now;
	cl_buf_init(&now, 1 << 20);
	assert_int_equal(cl_file_read(a->d.log, now.max, &now), CL_OK);
	assert_int_equal(now.len, log.len);
	cl_buf_free(&log);
	cl_buf_free(&now);
}

/* The control plane's anchor rides the answer; a log that does not hold it
 * is reported tampered. */
static void anchor_from_the_answer(void **state)
{
	ax *a = *state;
	cl_agent_answer ans;
	json_t *fw = report(a, 0, NULL);
	json_t *head = json_object_get(fw, "audit_head");
	char text[512];
	snprintf(text, sizeof(text), "{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":{\"seq\":%lld,\"hash\":\"%s\"}}",
		 (long long)iget(head, "seq"), sget(head, "hash"));
	assert_int_equal(cl_agent_answer_parse(text, strlen(text), &ans), CL_OK);
	assert_true(ans.has_fw_anchor);
	assert_int_equal(ans.fw_anchor_seq, (uint64_t)iget(head, "seq"));
	cl_agent_fw_anchor(a->d.h, &ans);
	cl_agent_answer_free(&ans);
	json_decref(fw);
	fw = report(a, 0, NULL);
	assert_null(json_object_get(fw, "audit_tampered")); /* the log holds it */
	json_decref(fw);
	/* malformed anchors refuse the answer */
	static const char *const bad[] = {
		"{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":{\"seq\":-1,\"hash\":\"" H64 "\"}}",
		"{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":{\"seq\":1,\"hash\":\"ab\"}}",
		"{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":{\"seq\":1}}",
		"{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":{\"seq\":1,\"hash\":\"" H64 "\",\"x\":1}}",
		"{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":7}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cl_agent_answer_parse(bad[i], strlen(bad[i]), &ans) != CL_EINVAL)
			fail_msg("accepted %s", bad[i]);
		cl_agent_answer_free(&ans);
	}
	/* an anchor the log does not hold: a record it never had */
	const char *far = "{\"generation\":1,\"enclaves\":[],\"firmware_audit_anchor\":{\"seq\":100000,\"hash\":\"" H64 "\"}}";
	assert_int_equal(cl_agent_answer_parse(far, strlen(far), &ans), CL_OK);
	cl_agent_fw_anchor(a->d.h, &ans);
	cl_agent_answer_free(&ans);
	fw = report(a, 0, NULL);
	json_t *t = json_object_get(fw, "audit_tampered");
	assert_non_null(t);
	assert_non_null(strstr(sget(t, "why"), "before the control plane's record 100000"));
	json_decref(fw);
}

/* ---- the answer parser ---- */

static cl_err parse(const char *s, cl_agent_answer *a)
{
	return cl_agent_answer_parse(s, strlen(s), a);
}

static bool bad_has(const cl_agent_answer *a, const char *id)
{
	for (size_t i = 0; i < a->nbad_ops; i++)
		if (strcmp(a->bad_ops[i], id) == 0)
			return true;
	return false;
}

static void answer_parses_firmware_ops(void **state)
{
	(void)state;
	cl_agent_answer a;
	assert_int_equal(
		parse("{\"generation\":3,\"enclaves\":[],\"firmware_audit_ack\":41,\"firmware_ops\":["
		      "{\"op\":\"fw-a\",\"kind\":\"update\",\"device\":\"0000:03:00.0\",\"data\":\"AAAA\"},"
		      "{\"op\":\"fw-b\",\"kind\":\"queue\",\"device\":\"0000:65:00.0\",\"data\":\"AAAA\"},"
		      "{\"op\":\"fw-c\",\"kind\":\"power_cycle\"},"
		      "{\"op\":\"fw-d\",\"kind\":\"clear_quarantine\",\"reason\":\"inspected\"},"
		      "{\"op\":\"fw-e\",\"kind\":\"window\",\"device\":\"0000:01:00.0\",\"data\":\"AAAA\"}]}",
		      &a),
		CL_OK);
	assert_true(a.has_fw_ack);
	assert_int_equal(a.fw_audit_ack, 41);
	assert_int_equal(a.nfw_ops, 5);
	assert_int_equal(a.nbad_ops, 0);
	assert_string_equal(a.fw_ops[0].op, "fw-a");
	assert_int_equal(a.fw_ops[0].kind, CL_FWOP_UPDATE);
	assert_string_equal(a.fw_ops[0].device, "0000:03:00.0");
	assert_string_equal(a.fw_ops[0].data, "AAAA");
	assert_int_equal(a.fw_ops[1].kind, CL_FWOP_QUEUE);
	assert_int_equal(a.fw_ops[2].kind, CL_FWOP_POWER_CYCLE);
	assert_null(a.fw_ops[2].data);
	assert_int_equal(a.fw_ops[3].kind, CL_FWOP_CLEAR_QUARANTINE);
	assert_string_equal(a.fw_ops[3].reason, "inspected");
	assert_int_equal(a.fw_ops[4].kind, CL_FWOP_WINDOW);
	cl_agent_answer_free(&a);
	/* without firmware fields: nothing, and no ack */
	assert_int_equal(parse("{\"generation\":3,\"enclaves\":[]}", &a), CL_OK);
	assert_false(a.has_fw_ack);
	assert_int_equal(a.nfw_ops, 0);
	cl_agent_answer_free(&a);
}

static void answer_sorts_out_malformed_firmware_ops(void **state)
{
	(void)state;
	cl_agent_answer a;
	assert_int_equal(
		parse("{\"generation\":1,\"enclaves\":[],\"ops\":[{\"op\":\"op-x\",\"kind\":\"nope\"}],\"firmware_ops\":["
		      "{\"op\":\"fw-1\",\"device\":\"0000:03:00.0\",\"data\":\"AAAA\"},"
		      "{\"op\":\"fw-2\",\"kind\":\"flash\",\"device\":\"0000:03:00.0\",\"data\":\"AAAA\"},"
		      "{\"op\":\"fw-3\",\"kind\":\"update\",\"device\":\"../../etc\",\"data\":\"AAAA\"},"
		      "{\"op\":\"fw-4\",\"kind\":\"update\",\"device\":\"0000:03:00.0\"},"
		      "{\"op\":\"fw-5\",\"kind\":\"update\",\"device\":\"0000:03:00.0\",\"data\":7},"
		      "{\"op\":\"fw-6\",\"kind\":\"clear_quarantine\"},"
		      "{\"op\":\"fw-7\",\"kind\":\"clear_quarantine\",\"reason\":\"a\\nb\"},"
		      "{\"op\":\"fw-8\",\"kind\":\"update\",\"device\":\"0000:03:00.0:00000000000000000000000000\","
		      "\"data\":\"AAAA\"},"
		      "{\"op\":\"FW BAD\",\"kind\":\"power_cycle\"},"
		      "{\"kind\":\"power_cycle\"},"
		      "7,"
		      "{\"op\":\"fw-ok\",\"kind\":\"revert\",\"device\":\"0000:03:00.0\"}]}",
		      &a),
		CL_OK);
	assert_int_equal(a.nfw_ops, 1);
	assert_string_equal(a.fw_ops[0].op, "fw-ok");
	assert_int_equal(a.fw_ops[0].kind, CL_FWOP_REVERT);
	/* every malformed op with a usable id is answered; the channel op too */
	assert_int_equal(a.nbad_ops, 9);
	const char *bad[] = {"op-x", "fw-1", "fw-2", "fw-3", "fw-4", "fw-5", "fw-6", "fw-7", "fw-8"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(bad_has(&a, bad[i]));
	cl_agent_answer_free(&a);
	/* whole-answer refusals: nothing to apply */
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[],\"firmware_ops\":{}}", &a), CL_EINVAL);
	assert_int_equal(a.nfw_ops, 0);
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[],\"firmware_audit_ack\":-1}", &a), CL_EINVAL);
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[],\"firmware_audit_ack\":\"7\"}", &a), CL_EINVAL);
	size_t cap = (size_t)(CL_AGENT_FW_OPS_MAX + 1) * 48 + 128;
	char *big = malloc(cap);
	assert_non_null(big);
	size_t off = (size_t)snprintf(big, cap, "{\"generation\":1,\"enclaves\":[],\"firmware_ops\":[");
	for (int i = 0; i <= CL_AGENT_FW_OPS_MAX; i++)
		off += (size_t)snprintf(big + off, cap - off, "%s{\"op\":\"fw-%d\",\"kind\":\"power_cycle\"}",
					i ? "," : "", i);
	snprintf(big + off, cap - off, "]}");
	assert_int_equal(parse(big, &a), CL_ETOOBIG);
	assert_int_equal(a.nfw_ops, 0);
	assert_null(a.desired);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(first_start_manufactures_and_reports, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(missing_root_key_refuses_first_start, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(update_accepted_shows_in_status_and_audit, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(bad_ops_refused_audited_and_change_nothing, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(queue_power_cycle_and_clear, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(audit_after_is_bounded, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(edge_values_reported_exactly, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(tampered_log_fails_closed_and_is_reported, ax_setup, ax_teardown),
		cmocka_unit_test_setup_teardown(anchor_from_the_answer, ax_setup, ax_teardown),
		cmocka_unit_test(fw_root_flag),
		cmocka_unit_test(wait_follows_the_window),
		cmocka_unit_test(answer_parses_firmware_ops),
		cmocka_unit_test(answer_sorts_out_malformed_firmware_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
