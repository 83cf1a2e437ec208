/* Unit tests for the control plane's firmware state: src/control/store_fw.c
 * (status, audit records, chain re-walk, events, ops), validate_fw.c (the
 * sync "firmware" object) and fw_sync.c (applying a report: eligibility,
 * idempotent audit append, chain breaks and alarms become events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "control/fw.h"
#include "control/store_fw.h"
#include "control/validate.h"

typedef struct fixture {
	char dir[64];
	char path[128];
	ctl_server srv;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/cl-ctlfw-XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/control.db", f->dir);
	if (ctl_store_open(f->path, &f->srv.store) != CL_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	ctl_store_close(f->srv.store);
	if (cl_rm_rf(f->dir) != CL_OK)
		return -1;
	free(f);
	return 0;
}

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* Parses a firmware object from JSON text; json kept in *keep. */
static cl_err parse(const char *text, json_t **keep, ctl_fw_report *rep)
{
	*keep = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(*keep);
	return ctl_parse_fw_report(*keep, rep);
}

/* Applies a report in one transaction, as sync.c does. */
static cl_err apply(fixture *f, const char *host, const char *text)
{
	json_t *j;
	ctl_fw_report *rep = malloc(sizeof(*rep));
	assert_non_null(rep);
	assert_int_equal(parse(text, &j, rep), CL_OK);
	assert_int_equal(ctl_store_begin(f->srv.store), CL_OK);
	cl_err err = ctl_fw_sync_apply(&f->srv, host, rep, 1000);
	if (err == CL_OK)
		err = ctl_store_commit(f->srv.store);
	else
		ctl_store_rollback(f->srv.store);
	json_decref(j);
	free(rep);
	return err;
}

static void validation(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"{}",
		"{\"eligible\":true,\"quarantined\":false}",
		"{\"eligible\":1,\"quarantined\":false,\"window_open\":false}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"extra\":true}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":{}}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":[{}]}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":[{\"addr\":\"0000:03:00.0\",\"x\":1}]}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":[{\"addr\":\"a\\u0001\"}]}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":[{\"addr\":\"a\",\"counter\":-1}]}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"audit\":[{\"seq\":1,\"hash\":\"" Z64
		"\"}]}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"audit\":[{\"seq\":0,\"hash\":\"" Z64
		"\",\"prev\":\"" Z64 "\"}]}",
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"audit\":[{\"seq\":1,\"hash\":\"" H("A")
		"\",\"prev\":\"" Z64 "\"}]}",
		/* not increasing */
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"audit\":[{\"seq\":2,\"hash\":\"" Z64
		"\",\"prev\":\"" Z64 "\"},{\"seq\":2,\"hash\":\"" Z64 "\",\"prev\":\"" Z64 "\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j;
		ctl_fw_report *rep = malloc(sizeof(*rep));
		assert_non_null(rep);
		if (parse(bad[i], &j, rep) != CL_EINVAL)
			fail_msg("accepted bad report %zu: %s", i, bad[i]);
		json_decref(j);
		free(rep);
	}
	/* over the device bound */
	json_t *fw = json_pack("{s:b,s:b,s:b,s:[]}", "eligible", 1, "quarantined", 0, "window_open", 0, "devices");
	for (int i = 0; i <= CTL_FW_DEVICES_MAX; i++)
		json_array_append_new(json_object_get(fw, "devices"), json_pack("{s:s}", "addr", "0000:03:00.0"));
	ctl_fw_report *rep = malloc(sizeof(*rep));
	assert_non_null(rep);
	assert_int_equal(ctl_parse_fw_report(fw, rep), CL_EINVAL);
	json_array_remove(json_object_get(fw, "devices"), 0);
	assert_int_equal(ctl_parse_fw_report(fw, rep), CL_OK);
	json_decref(fw);
	free(rep);
	assert_true(ctl_valid_hex64(Z64));
	assert_false(ctl_valid_hex64(H("A")));
	assert_false(ctl_valid_hex64("00"));
}

static void eligibility(void **state)
{
	fixture *f = *state;
	/* never reported: eligible */
	assert_true(ctl_fw_host_eligible(&f->srv, "host-a"));
	ctl_fw_status s;
	assert_int_equal(ctl_store_fw_status_get(f->srv.store, "host-a", &s), CL_ENOTFOUND);
	assert_int_equal(apply(f, "host-a", "{\"eligible\":false,\"quarantined\":false,\"window_open\":true}"), CL_OK);
	assert_false(ctl_fw_host_eligible(&f->srv, "host-a"));
	assert_true(ctl_fw_host_eligible(&f->srv, "host-b"));
	/* claiming eligible with the window open is not believed */
	assert_int_equal(apply(f, "host-a", "{\"eligible\":true,\"quarantined\":false,\"window_open\":true}"), CL_OK);
	assert_false(ctl_fw_host_eligible(&f->srv, "host-a"));
	assert_int_equal(apply(f, "host-a", "{\"eligible\":true,\"quarantined\":true,\"window_open\":false}"), CL_OK);
	assert_false(ctl_fw_host_eligible(&f->srv, "host-a"));
	assert_int_equal(apply(f, "host-a",
			       "{\"eligible\":true,\"quarantined\":false,\"window_open\":false,"
			       "\"devices\":[{\"addr\":\"0000:03:00.0\",\"locked\":true}]}"),
			 CL_OK);
	assert_true(ctl_fw_host_eligible(&f->srv, "host-a"));
	assert_int_equal(ctl_store_fw_status_get(f->srv.store, "host-a", &s), CL_OK);
	assert_true(s.eligible);
	assert_non_null(strstr(s.devices_json, "0000:03:00.0"));
	ctl_fw_status_clear(&s);
	/* one quarantine event for the transition into quarantine */
	ctl_fw_event *ev;
	size_t n;
	assert_int_equal(ctl_store_fw_event_list(f->srv.store, "host-a", 0, 10, &ev, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].kind, "quarantined");
	free(ev);
}

/* Builds an audit array of records first..last, chained from seq 1 with
 * hash(s) = 64 x hex digit (s % 16); brk gets a wrong prev. */
static char *audit_json(int first, int last, int brk, const char *action_at3)
{
	json_t *arr = json_array();
	char prev[65], hash[65];
	snprintf(prev, sizeof(prev), Z64);
	for (int s = 1; s <= last; s++) {
		memset(hash, "123456789abcdef0"[s % 16], 64);
		hash[64] = '\0';
		if (s >= first) {
			json_t *r = json_pack("{s:i,s:s,s:s,s:s}", "seq", s, "hash", hash, "prev",
					      s == brk ? H("e") : prev, "op", "update");
			if (s == 3 && action_at3)
				json_object_set_new(r, "action", json_string(action_at3));
			json_array_append_new(arr, r);
		}
		memcpy(prev, hash, sizeof(prev));
	}
	json_t *fw = json_pack("{s:b,s:b,s:b,s:o}", "eligible", 1, "quarantined", 0, "window_open", 0, "audit", arr);
	char *t = json_dumps(fw, JSON_COMPACT);
	json_decref(fw);
	return t;
}

static void audit_chain(void **state)
{
	fixture *f = *state;
	ctl_store *st = f->srv.store;
	int64_t last, bad;
	char head[65];
	bool ok;
	char *t = audit_json(1, 4, 0, "alarm");
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	assert_int_equal(apply(f, "host-a", t), CL_OK); /* resend: idempotent */
	free(t);
	assert_int_equal(ctl_store_fw_audit_last(st, "host-a", &last, head), CL_OK);
	assert_int_equal(last, 4);
	assert_int_equal(head[0], '5'); /* "123456789abcdef0"[4] */
	assert_int_equal(ctl_store_fw_chain_check(st, "host-a", &ok, &bad), CL_OK);
	assert_true(ok);
	assert_int_equal(bad, 0);
	ctl_fw_record *rs;
	size_t n;
	assert_int_equal(ctl_store_fw_audit_list(st, "host-a", 1, 2, &rs, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rs[0].seq, 2);
	assert_non_null(strstr(rs[1].json, "\"action\":\"alarm\""));
	ctl_fw_records_free(rs, n);
	assert_int_equal(ctl_store_fw_audit_list(st, "host-a", 0, 0, &rs, &n), CL_EINVAL);
	/* other host: nothing */
	assert_int_equal(ctl_store_fw_audit_last(st, "host-b", &last, head), CL_OK);
	assert_int_equal(last, 0);
	/* the host's alarm became an event; no chain break yet */
	ctl_fw_event *ev;
	assert_int_equal(ctl_store_fw_event_list(st, NULL, 0, 10, &ev, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].kind, "alarm");
	assert_int_equal(ev[0].seq, 3);
	free(ev);
	/* record 6 does not link to 5: stored, flagged, found by the re-walk */
	t = audit_json(5, 7, 6, NULL);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	free(t);
	assert_int_equal(ctl_store_fw_chain_check(st, "host-a", &ok, &bad), CL_OK);
	assert_false(ok);
	assert_int_equal(bad, 6);
	assert_int_equal(ctl_store_fw_event_list(st, "host-a", 1, 10, &ev, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].kind, "chain_break");
	assert_int_equal(ev[0].seq, 6);
	free(ev);
	/* a gap (records 2..9 never sent) is flagged on host-b */
	t = audit_json(1, 1, 0, NULL);
	assert_int_equal(apply(f, "host-b", t), CL_OK);
	free(t);
	t = audit_json(10, 10, 0, NULL);
	assert_int_equal(apply(f, "host-b", t), CL_OK);
	free(t);
	assert_int_equal(ctl_store_fw_chain_check(st, "host-b", &ok, &bad), CL_OK);
	assert_false(ok);
	assert_int_equal(bad, 10);
	assert_int_equal(ctl_store_fw_event_list(st, "host-b", 0, 10, &ev, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].kind, "chain_break");
	free(ev);
	/* a failed apply (bad JSON shape caught at insert time is impossible;
	 * simulate with a rollback) leaves nothing */
	assert_int_equal(ctl_store_begin(st), CL_OK);
	ctl_fw_record r = {.seq = 11, .json = "{}"};
	snprintf(r.hash, sizeof(r.hash), Z64);
	snprintf(r.prev, sizeof(r.prev), Z64);
	assert_int_equal(ctl_store_fw_audit_insert(st, "host-b", &r), CL_OK);
	assert_int_equal(ctl_store_fw_audit_insert(st, "host-b", &r), CL_ECONFLICT);
	ctl_store_rollback(st);
	assert_int_equal(ctl_store_fw_audit_last(st, "host-b", &last, head), CL_OK);
	assert_int_equal(last, 10);
}

/* One range per number (fw/fw_limits.h): everything a device can hold is
 * accepted and stored exactly; a legacy uint64 above 2^63 - 1 only as its
 * exact decimal string; nothing else. */
static void number_ranges(void **state)
{
	fixture *f = *state;
	static const char *const good[] = {
		"\"counter\":9223372036854775807,\"sequence\":9223372036854775807,\"trust_version\":9223372036854775807,"
		"\"policy_version\":9223372036854775807,\"window_left_s\":86400,\"window_s\":86400,"
		"\"next_window_s\":86400,\"pending\":16",
		"\"counter\":\"18446744073709551615\",\"sequence\":\"9223372036854775808\"",
	};
	static const char *const bad[] = {
		"\"counter\":-1",
		"\"counter\":\"9223372036854775807\"", /* fits an integer: must be one */
		"\"counter\":\"18446744073709551616\"",
		"\"counter\":\"09223372036854775808\"",
		"\"counter\":\"+9223372036854775808\"",
		"\"counter\":1.5",
		"\"window_left_s\":86401",
		"\"window_s\":86401",
		"\"pending\":17",
	};
	char text[1024];
	json_t *j;
	ctl_fw_report *rep = malloc(sizeof(*rep));
	assert_non_null(rep);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":[{\"addr\":\"a\",%s}]}",
			 bad[i]);
		if (parse(text, &j, rep) != CL_EINVAL)
			fail_msg("accepted %s", bad[i]);
		json_decref(j);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"power_cycle\":3,"
			 "\"devices\":[{\"addr\":\"0000:03:00.0\",%s}],"
			 "\"audit\":[{\"seq\":1,\"time\":9223372036854775807,\"sequence\":9223372036854775807,"
			 "\"hash\":\"" H("1") "\",\"prev\":\"" Z64 "\"}],"
			 "\"audit_head\":{\"seq\":1,\"hash\":\"" H("1") "\"}}",
			 good[i]);
		assert_int_equal(apply(f, "host-a", text), CL_OK);
	}
	ctl_fw_status s;
	assert_int_equal(ctl_store_fw_status_get(f->srv.store, "host-a", &s), CL_OK);
	assert_non_null(strstr(s.devices_json, "\"counter\":\"18446744073709551615\""));
	assert_int_equal(s.power_cycle, 3);
	assert_int_equal(s.head_seq, 1);
	assert_string_equal(s.tampered, "");
	ctl_fw_status_clear(&s);
	ctl_fw_record r;
	assert_int_equal(ctl_store_fw_audit_get(f->srv.store, "host-a", 1, &r), CL_OK);
	assert_non_null(strstr(r.json, "\"sequence\":9223372036854775807"));
	free(r.json);
	/* the first report's exact values, before the legacy one replaced them */
	snprintf(text, sizeof(text),
		 "{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"devices\":[{\"addr\":\"a\",%s}]}", good[0]);
	assert_int_equal(apply(f, "host-a", text), CL_OK);
	assert_int_equal(ctl_store_fw_status_get(f->srv.store, "host-a", &s), CL_OK);
	assert_non_null(strstr(s.devices_json, "\"counter\":9223372036854775807"));
	ctl_fw_status_clear(&s);
	free(rep);
}

/* A firmware report with records first..last of audit_json's chain and the
 * head seq (its hash from the same chain, or other: a different one). */
static char *report_with_head(int first, int last, int head, bool other, const char *tamper)
{
	char *t = audit_json(first, last, 0, NULL);
	json_t *fw = json_loads(t, 0, NULL);
	free(t);
	char hash[65];
	memset(hash, other ? 'e' : "123456789abcdef0"[head % 16], 64);
	hash[64] = '\0';
	json_object_set_new(fw, "audit_head", json_pack("{s:i,s:s}", "seq", head, "hash", hash));
	if (tamper)
		json_object_set_new(fw, "audit_tampered", json_pack("{s:i,s:s}", "seq", 2, "why", tamper));
	t = json_dumps(fw, JSON_COMPACT);
	json_decref(fw);
	return t;
}

static size_t tamper_events(fixture *f, const char *host, int64_t *last_seq)
{
	ctl_fw_event *ev;
	size_t n, k = 0;
	assert_int_equal(ctl_store_fw_event_list(f->srv.store, host, 0, 100, &ev, &n), CL_OK);
	for (size_t i = 0; i < n; i++)
		if (strcmp(ev[i].kind, "audit_tampered") == 0) {
			k++;
			*last_seq = ev[i].seq;
		}
	free(ev);
	return k;
}

static bool tampered(fixture *f, const char *host)
{
	ctl_fw_status s;
	assert_int_equal(ctl_store_fw_status_get(f->srv.store, host, &s), CL_OK);
	bool t = s.tampered[0] != '\0';
	if (t)
		assert_true(s.quarantined && !s.eligible);
	ctl_fw_status_clear(&s);
	return t;
}

/* The control plane holds the head it stored and sends it with every answer
 * (the anchor); a host whose log no longer is that chain (it says so, or its
 * head or a resent record shows it) raises one audit_tampered event per
 * episode and is held quarantined. */
static void anchor_and_tampering(void **state)
{
	fixture *f = *state;
	int64_t seq = 0;
	char *t = report_with_head(1, 4, 4, false, NULL);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	free(t);
	json_t *ans = json_object();
	assert_int_equal(ctl_fw_sync_answer(&f->srv, "host-a", ans, false), CL_OK);
	json_t *anchor = json_object_get(ans, "firmware_audit_anchor");
	assert_int_equal(json_integer_value(json_object_get(anchor, "seq")), 4);
	assert_string_equal(json_string_value(json_object_get(anchor, "hash")), H("5"));
	json_decref(ans);
	ans = json_object();
	assert_int_equal(ctl_fw_sync_answer(&f->srv, "host-b", ans, false), CL_OK);
	assert_true(json_is_null(json_object_get(ans, "firmware_audit_anchor")));
	json_decref(ans);
	assert_false(tampered(f, "host-a"));
	/* cut: the host's log now ends at 2 */
	t = report_with_head(1, 0, 2, false, NULL);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	assert_int_equal(apply(f, "host-a", t), CL_OK); /* the same episode: one event */
	free(t);
	assert_true(tampered(f, "host-a"));
	assert_int_equal(tamper_events(f, "host-a", &seq), 1);
	assert_int_equal(seq, 3);
	assert_false(ctl_fw_host_eligible(&f->srv, "host-a"));
	/* consistent again: cleared; the head replaced: a new episode */
	t = report_with_head(1, 0, 4, false, NULL);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	free(t);
	assert_false(tampered(f, "host-a"));
	t = report_with_head(1, 0, 4, true, NULL);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	free(t);
	assert_int_equal(tamper_events(f, "host-a", &seq), 2);
	assert_int_equal(seq, 4);
	/* cut and regrown: a stored seq resent with another hash (nothing stored) */
	t = report_with_head(1, 0, 4, false, NULL);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	free(t);
	json_t *fw = json_pack("{s:b,s:b,s:b,s:[{s:i,s:s,s:s}]}", "eligible", 1, "quarantined", 0, "window_open", 0,
			       "audit", "seq", 3, "hash", H("9"), "prev", H("3"));
	t = json_dumps(fw, JSON_COMPACT);
	json_decref(fw);
	assert_int_equal(apply(f, "host-a", t), CL_OK);
	free(t);
	assert_int_equal(tamper_events(f, "host-a", &seq), 3);
	assert_int_equal(seq, 3);
	ctl_fw_record r;
	assert_int_equal(ctl_store_fw_audit_get(f->srv.store, "host-a", 3, &r), CL_OK);
	assert_string_equal(r.hash, H("4")); /* the stored copy kept */
	free(r.json);
	/* the host's own finding */
	t = report_with_head(1, 0, 4, false, "record 2: hash chain broken");
	assert_int_equal(apply(f, "host-b", t), CL_OK);
	free(t);
	assert_int_equal(tamper_events(f, "host-b", &seq), 1);
	assert_int_equal(seq, 2);
	ctl_fw_status s;
	assert_int_equal(ctl_store_fw_status_get(f->srv.store, "host-b", &s), CL_OK);
	assert_string_equal(s.tampered, "host: record 2: hash chain broken");
	ctl_fw_status_clear(&s);
}

static void ops(void **state)
{
	fixture *f = *state;
	ctl_store *st = f->srv.store;
	ctl_fw_op op = {.host_id = "host-a", .kind = "power_cycle", .id = "fw-1", .state = "pending", .data = ""};
	ctl_fw_op op2 = {.host_id = "host-a", .kind = "update", .id = "fw-2", .state = "pending", .data = "AAAA",
			 .device = "0000:03:00.0", .created_at = 5};
	assert_int_equal(ctl_store_fw_op_insert(st, &op), CL_OK);
	assert_int_equal(ctl_store_fw_op_insert(st, &op2), CL_OK);
	assert_int_equal(ctl_store_fw_op_insert(st, &op), CL_ECONFLICT);
	ctl_fw_op *list;
	size_t n;
	assert_int_equal(ctl_store_fw_ops_to_send(st, "host-a", &list, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "fw-1");
	assert_string_equal(list[1].data, "AAAA");
	ctl_fw_ops_free(list, n);
	assert_int_equal(ctl_store_fw_ops_to_send(st, "host-b", &list, &n), CL_OK);
	assert_int_equal(n, 0);
	ctl_fw_ops_free(list, n);
	bool waiting = false;
	assert_int_equal(ctl_store_fw_ops_waiting(st, "host-a", &waiting), CL_OK);
	assert_true(waiting);
	assert_int_equal(ctl_store_fw_op_mark_delivered(st, "host-a", "fw-1"), CL_OK);
	/* delivered = sent, awaiting a result: still sent again, after unsent ones */
	assert_int_equal(ctl_store_fw_ops_to_send(st, "host-a", &list, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "fw-2");
	assert_false(list[0].delivered);
	assert_string_equal(list[1].id, "fw-1");
	assert_true(list[1].delivered);
	ctl_fw_ops_free(list, n);
	assert_int_equal(ctl_store_fw_op_mark_delivered(st, "host-a", "fw-2"), CL_OK);
	assert_int_equal(ctl_store_fw_ops_waiting(st, "host-a", &waiting), CL_OK);
	assert_false(waiting);
	assert_int_equal(ctl_store_fw_ops_to_send(st, "host-a", &list, &n), CL_OK);
	assert_int_equal(n, 2);
	ctl_fw_ops_free(list, n);
	/* results: only the owning host, only once */
	assert_int_equal(ctl_store_fw_op_result(st, "host-b", "fw-2", true, NULL, NULL, 0, 9), CL_ENOTFOUND);
	assert_int_equal(ctl_store_fw_op_result(st, "host-a", "fw-2", false, "refused: rollback", "rollback", 42, 9),
			 CL_OK);
	assert_int_equal(ctl_store_fw_op_result(st, "host-a", "fw-2", true, NULL, NULL, 0, 10), CL_ENOTFOUND);
	assert_int_equal(ctl_store_fw_ops_to_send(st, "host-a", &list, &n), CL_OK);
	assert_int_equal(n, 1); /* fw-2 has its result: no longer sent */
	assert_string_equal(list[0].id, "fw-1");
	ctl_fw_ops_free(list, n);
	ctl_fw_op got;
	assert_int_equal(ctl_store_fw_op_get(st, "host-a", "fw-2", &got), CL_OK);
	assert_string_equal(got.state, "refused");
	assert_string_equal(got.result_reason, "rollback");
	assert_int_equal(got.audit_seq, 42);
	assert_true(got.delivered);
	ctl_fw_op_clear(&got);
	assert_int_equal(ctl_store_fw_op_get(st, "host-b", "fw-2", &got), CL_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(validation),
		cmocka_unit_test_setup_teardown(eligibility, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(ops, setup, teardown),
		cmocka_unit_test_setup_teardown(number_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(anchor_and_tampering, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
