/* Tests of the firmware guard's guest interface (src/guestif/):
 *  - the request parser (good, bad, overlong, odd hex, offset overflow), the
 *    response formatter and the write token bucket, all pure;
 *  - a real guest interface process (forked, hardened, under its own uid when
 *    run as root) and the agent's gate in front of a real device model in a
 *    temp dir (tests/unit/test_fwdev_fixture.h), over real UNIX sockets
 *    (cl_guestif_start): reads work and reveal only the
 *    identity, a write is refused no_mapping and is in the audit log (source
 *    guest), rate limiting, connection caps, idle timeout, remove, restart;
 *  - as root, a real enclave launched with a guest directory: from inside,
 *    /dev/cloister/fw.sock answers, writes are refused, the directory is
 *    read-only, and a restarted server is reachable again; without one there
 *    is no /dev/cloister.
 * Every wait polls a condition with a deadline.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_fwdev_fixture.h"

#include "common/frame.h"
#include "common/util.h"
#include "guestif/guestif.h"
#include "sandbox/sandbox.h"
#include "image/image.h"

/* ---- parser ---- */

static cl_err parse(const char *s, cl_guestif_req *r)
{
	return cl_guestif_parse(s, strlen(s), r);
}

static void parses_good_requests(void **state)
{
	cl_guestif_req r;
	assert_int_equal(parse("LIST", &r), CL_OK);
	assert_int_equal(r.verb, CL_GUESTIF_LIST);
	assert_int_equal(parse("LIST\r", &r), CL_OK);
	assert_int_equal(parse("READ 0000:03:00.0", &r), CL_OK);
	assert_int_equal(r.verb, CL_GUESTIF_READ);
	assert_string_equal(r.addr, "0000:03:00.0");
	assert_int_equal(parse("WRITE 0000:65:00.0 config 4096 deadBEEF", &r), CL_OK);
	assert_int_equal(r.verb, CL_GUESTIF_WRITE);
	assert_string_equal(r.addr, "0000:65:00.0");
	assert_int_equal(r.region, FWG_REGION_CONFIG);
	assert_int_equal(r.offset, 4096);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.data, "\xde\xad\xbe\xef", 4);
	assert_int_equal(parse("WRITE nic firmware 0x10 00", &r), CL_OK);
	assert_int_equal(r.region, FWG_REGION_FIRMWARE);
	assert_int_equal(r.offset, 16);
	assert_int_equal(parse("WRITE a rom 0xFFFFFFFFFFFFFFFF 00", &r), CL_OK);
	assert_true(r.offset == UINT64_MAX && r.len == 1);
	assert_int_equal(parse("WRITE a rom 18446744073709551614 0011", &r), CL_OK);
	/* the longest data that fits a line */
	char line[CL_GUESTIF_LINE_MAX];
	int n = snprintf(line, sizeof(line), "WRITE a rom 0 ");
	for (int i = 0; i < CL_GUESTIF_WRITE_MAX; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "ab");
	assert_true(n < CL_GUESTIF_LINE_MAX);
	assert_int_equal(parse(line, &r), CL_OK);
	assert_int_equal(r.len, CL_GUESTIF_WRITE_MAX);
}

static void refuses_bad_requests(void **state)
{
	static const char *const bad[] = {
		"", " ", "list", "LIST ", " LIST", "LIST x", "LISTX", "READ", "READ ", "READ  a", "READ a b",
		"READ a/b", "READ a%s", "READ 0123456789012345678901234567890123", /* 34 > 31 */
		"WRITE a firmware 0", "WRITE a firmware 0 ", "WRITE a flash 0 00", "WRITE a FIRMWARE 0 00",
		"WRITE a config -1 00", "WRITE a config +1 00", "WRITE a config 1e3 00", "WRITE a config 0x 00",
		"WRITE a config 0xg1 00", "WRITE a config 0 0", "WRITE a config 0 abc", "WRITE a config 0 zz",
		"WRITE a config 0 00 extra", "WRITE a config 0  00", "READ a\tb", "LIST\r\r", "\r",
		/* offsets that do not fit, or overflow with the length */
		"WRITE a rom 18446744073709551616 00", "WRITE a rom 99999999999999999999 00",
		"WRITE a rom 000000000000000000001 00", "WRITE a rom 0x10000000000000000 00",
		"WRITE a rom 0xFFFFFFFFFFFFFFFF 0000", "WRITE a rom 18446744073709551615 0011",
	};
	cl_guestif_req r;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cl_err e = parse(bad[i], &r);
		if (e == CL_OK)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(e == CL_EINVAL || e == CL_ETOOBIG);
		assert_true(cl_error_detail()[0] != '\0'); /* a detail to send back */
	}
	/* a NUL or a control byte inside the line */
	assert_int_equal(cl_guestif_parse("LIST\0x", 6, &r), CL_EINVAL);
	assert_int_equal(cl_guestif_parse("READ \x01", 6, &r), CL_EINVAL);
	assert_int_equal(cl_guestif_parse("READ \xc3\xa9", 7, &r), CL_EINVAL);
	/* the detail never quotes the input */
	assert_int_equal(parse("READ secret/value", &r), CL_EINVAL);
	assert_null(strstr(cl_error_detail(), "secret"));
}

static void refuses_overlong_and_oversized(void **state)
{
	char line[2 * CL_GUESTIF_LINE_MAX];
	cl_guestif_req r;
	memset(line, 'A', sizeof(line));
	assert_int_equal(cl_guestif_parse(line, CL_GUESTIF_LINE_MAX, &r), CL_ETOOBIG);
	assert_int_equal(cl_guestif_parse(line, sizeof(line), &r), CL_ETOOBIG);
	/* 241 bytes of data: one more than a WRITE carries */
	int n = snprintf(line, sizeof(line), "WRITE a rom 0 ");
	for (int i = 0; i <= CL_GUESTIF_WRITE_MAX; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "00");
	assert_int_equal(parse(line, &r), CL_ETOOBIG);
}

static void formats_responses(void **state)
{
	cl_buf b;
	cl_buf_init(&b, 4096);
	assert_int_equal(cl_guestif_format_err("bad_request", "odd\nline\x01 here", &b), CL_OK);
	assert_int_equal(b.len, strlen("ERR bad_request odd?line? here\n"));
	assert_memory_equal(b.data, "ERR bad_request odd?line? here\n", b.len);
	cl_buf_reset(&b);
	char longmsg[400];
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	assert_int_equal(cl_guestif_format_err("no_mapping", longmsg, &b), CL_OK);
	assert_int_equal(b.len, strlen("ERR no_mapping \n") + 200);
	cl_buf_reset(&b);
	assert_int_equal(cl_guestif_format_err("Bad Code", "x", &b), CL_EINTERNAL);
	fwg_identity id;
	memset(&id, 0, sizeof(id));
	snprintf(id.addr, sizeof(id.addr), "0000:03:00.0");
	snprintf(id.name, sizeof(id.name), "nic");
	assert_int_equal(fw_uuid_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", id.vendor), CL_OK);
	id.locked = true;
	json_t *o = cl_guestif_identity_json(&id);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 6);
	assert_string_equal(json_string_value(json_object_get(o, "vendor")), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
	assert_string_equal(json_string_value(json_object_get(o, "class")), "00000000-0000-0000-0000-000000000000");
	assert_true(json_is_true(json_object_get(o, "locked")));
	assert_int_equal(cl_guestif_format_ok(o, &b), CL_OK);
	assert_true(b.len > 4 && memcmp(b.data, "OK {", 4) == 0 && b.data[b.len - 1] == '\n');
	assert_null(memchr(b.data, '\n', b.len - 1)); /* one line */
	json_decref(o);
	cl_buf_free(&b);
}

static void token_bucket(void **state)
{
	cl_guestif_bucket b = {0};
	const uint64_t s = 1000000000ull;
	uint64_t t = 5 * s;
	int ok = 0;
	for (int i = 0; i < 30; i++)
		ok += cl_guestif_bucket_take(&b, t, 10, 20);
	assert_int_equal(ok, 20); /* the burst, then empty */
	assert_false(cl_guestif_bucket_take(&b, t + s / 20, 10, 20)); /* half a token */
	assert_true(cl_guestif_bucket_take(&b, t + s / 10, 10, 20));  /* one token after 100 ms */
	assert_false(cl_guestif_bucket_take(&b, t + s / 10, 10, 20));
	ok = 0; /* a long pause refills to the burst, never beyond */
	for (int i = 0; i < 30; i++)
		ok += cl_guestif_bucket_take(&b, t + 1000 * s, 10, 20);
	assert_int_equal(ok, 20);
	assert_false(cl_guestif_bucket_take(&b, t, 10, 20)); /* clock going back adds nothing */
	cl_guestif_bucket big = {0};
	assert_true(cl_guestif_bucket_take(&big, 0, 1, 1));
	assert_true(cl_guestif_bucket_take(&big, UINT64_MAX, 1, 1)); /* huge gap: no overflow */
	assert_false(cl_guestif_bucket_take(&big, UINT64_MAX, 1, 1));
}

/* ---- the server ---- */

typedef struct gx {
	dx d;
	char base[128];
	cl_guestif *g;
} gx;

static int gx_setup_opts(void **state, const cl_guestif_opts *o)
{
	gx *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	fx_init(&x->d.f);
	dx_make(&x->d);
	snprintf(x->base, sizeof(x->base), "%s/guest", x->d.dir);
	if (cl_guestif_start(x->d.h, x->base, o, &x->g) != CL_OK)
		return -1;
	if (cl_guestif_add(x->g, "enc-a", NULL, 0) != CL_OK)
		return -1;
	*state = x;
	return 0;
}

static int gx_setup(void **state)
{
	return gx_setup_opts(state, NULL);
}

static int gx_setup_small(void **state)
{
	cl_guestif_opts o = {.write_rate = 1, .write_burst = 3, .per_enclave = 2, .max_conns = 3};
	return gx_setup_opts(state, &o);
}

static int gx_setup_host(void **state)
{
	cl_guestif_opts o = {.write_rate = 100, .write_burst = 100, .host_rate = 1, .host_burst = 3};
	return gx_setup_opts(state, &o);
}

static int gx_setup_idle(void **state)
{
	cl_guestif_opts o = {.idle_ms = 300};
	return gx_setup_opts(state, &o);
}

static int gx_teardown(void **state)
{
	gx *x = *state;
	char data[160], **ids;
	size_t n;
	/* a failed enclave test may have left enclaves running */
	snprintf(data, sizeof(data), "%s/data", x->d.dir);
	if (cl_sandbox_list(data, &ids, &n) == CL_OK) {
		for (size_t i = 0; i < n; i++)
			if (cl_sandbox_destroy(data, ids[i]) != CL_OK)
				fprintf(stderr, "destroy %s: %s\n", ids[i], cl_error_detail());
		cl_sandbox_ids_free(ids, n);
	}
	cl_guestif_stop(x->g);
	fwg_host_close(x->d.h);
	assert_int_equal(cl_rm_rf(x->d.dir), CL_OK);
	fx_free(&x->d.f);
	free(x);
	return 0;
}

static int connect_to(const char *base, const char *id)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s/fw.sock", base, id);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(s);
		return -e;
	}
	return s;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one line (without '\n') with a 10 s deadline; returns NULL on EOF. */
static char *read_line(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000000000ull;
	while (got < cap - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = cl_now_mono_ns();
		assert_true(now < deadline);
		if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		ssize_t r = recv(fd, buf + got, 1, 0);
		if (r <= 0)
			return NULL;
		if (buf[got] == '\n') {
			buf[got] = '\0';
			return buf;
		}
		got++;
	}
	fail_msg("line too long");
	return NULL;
}

static const char *ask(int fd, const char *req)
{
	static char buf[16384];
	char line[1024];
	snprintf(line, sizeof(line), "%s\n", req);
	send_all(fd, line, strlen(line));
	char *ans = read_line(fd, buf, sizeof(buf));
	assert_non_null(ans);
	return ans;
}

static json_t *ok_json(const char *ans)
{
	if (strncmp(ans, "OK ", 3) != 0)
		fail_msg("not OK: %s", ans);
	json_t *o = json_loads(ans + 3, 0, NULL);
	assert_non_null(o);
	return o;
}

/* Audit records, in order, from the device model's log. */
typedef struct recs {
	fwg_audit_rec r[512];
	size_t n;
} recs;

static int collect(const fwg_audit_rec *r, void *ctx)
{
	recs *v = ctx;
	if (v->n < 512)
		v->r[v->n++] = *r;
	return 0;
}

static void read_audit(dx *d, recs *v)
{
	cl_buf b;
	fwa_report rep;
	cl_buf_init(&b, 64u << 20);
	assert_int_equal(cl_file_read(d->log, 64u << 20, &b), CL_OK);
	v->n = 0;
	fwa_walk(b.data, b.len, &rep, collect, v);
	assert_true(rep.ok);
	cl_buf_free(&b);
}

static void reads_identity_only(void **state)
{
	gx *x = *state;
	int fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	json_t *o = ok_json(ask(fd, "LIST"));
	json_t *devs = json_object_get(o, "devices");
	assert_int_equal(json_object_size(o), 1);
	assert_int_equal(json_array_size(devs), 3);
	size_t i;
	json_t *dev;
	json_array_foreach(devs, i, dev)
	{
		assert_int_equal(json_object_size(dev), 6); /* addr name vendor class version locked: nothing else */
		static const char *const keys[] = {"addr", "name", "vendor", "class", "version", "locked"};
		for (size_t k = 0; k < 6; k++)
			assert_non_null(json_object_get(dev, keys[k]));
	}
	json_decref(o);
	o = ok_json(ask(fd, "READ " NIC));
	assert_string_equal(json_string_value(json_object_get(o, "addr")), NIC);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "nic");
	char vendor[40];
	fw_uuid_format(spec_of(NIC)->vendor, vendor);
	assert_string_equal(json_string_value(json_object_get(o, "vendor")), vendor);
	assert_false(json_is_true(json_object_get(o, "locked"))); /* the window is open after manufacture */
	json_decref(o);
	assert_string_equal(ask(fd, "READ 0000:99:00.0"), "ERR no_device no device at that address");
	/* a bad request is answered and the connection stays usable */
	const char *a = ask(fd, "HELLO");
	assert_true(strncmp(a, "ERR bad_request ", 16) == 0);
	assert_true(strncmp(ask(fd, "READ " GPU), "OK {", 4) == 0);
	/* pipelined requests, answered in order */
	send_all(fd, "LIST\nREAD " BMC "\nNOPE\n", strlen("LIST\nREAD " BMC "\nNOPE\n"));
	char buf[8192];
	assert_true(strncmp(read_line(fd, buf, sizeof(buf)), "OK {\"devices\"", 13) == 0);
	assert_non_null(strstr(read_line(fd, buf, sizeof(buf)), "\"bmc\""));
	assert_true(strncmp(read_line(fd, buf, sizeof(buf)), "ERR bad_request", 15) == 0);
	close(fd);
	cl_guestif_stats st;
	cl_guestif_stats_get(x->g, "enc-a", &st);
	assert_int_equal(st.requests, 8);
	assert_int_equal(st.writes_audited, 0);
}

/* cl_guestif_prepare binds and listens but hands nothing over: a client that
 * connects then waits in the backlog, unanswered, and is served once
 * cl_guestif_hand_over gives the socket to the process. */
static void prepared_then_handed_over(void **state)
{
	gx *x = *state;
	char dir[256];
	assert_int_equal(cl_guestif_prepare(x->g, "enc-p", dir, sizeof(dir)), CL_OK);
	int fd = connect_to(x->base, "enc-p");
	assert_true(fd >= 0);
	send_all(fd, "LIST\n", 5);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 300), 0); /* nobody serves it yet */
	cl_guestif_hand_over(x->g, "enc-p");
	char buf[8192];
	assert_true(strncmp(read_line(fd, buf, sizeof(buf)), "OK {\"devices\"", 13) == 0);
	close(fd);
	cl_guestif_hand_over(x->g, "enc-none"); /* not served: nothing happens */
	cl_guestif_remove(x->g, "enc-p");
	assert_true(connect_to(x->base, "enc-p") < 0);
}

static void write_refused_and_audited(void **state)
{
	gx *x = *state;
	recs *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	assert_non_null(before);
	assert_non_null(after);
	read_audit(&x->d, before);
	int fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	const char *a = ask(fd, "WRITE " NIC " firmware 0x100 deadbeef");
	assert_true(strncmp(a, "ERR no_mapping ", 15) == 0);
	assert_non_null(strstr(a, "firmware region of " NIC));
	read_audit(&x->d, after);
	assert_int_equal(after->n, before->n + 1);
	fwg_audit_rec *r = &after->r[after->n - 1];
	assert_int_equal(r->op, FWG_OP_GUEST_WRITE);
	assert_int_equal(r->source, FWG_SRC_GUEST);
	assert_int_equal(r->result, FWG_RES_REFUSED);
	assert_int_equal(r->reason, FWG_R_NO_MAPPING);
	assert_string_equal(r->addr, NIC);
	assert_int_equal(r->input_len, 4);
	char seq[64];
	snprintf(seq, sizeof(seq), "seq %llu)", (unsigned long long)r->seq);
	assert_non_null(strstr(a, seq)); /* the answer names the audit record */
	/* nothing changed on the device */
	fwg_dev_status s = dev_status(&x->d, NIC);
	assert_int_equal(s.sequence, 0);
	assert_int_equal(s.active_slot, -1);
	/* config and rom regions, and a device that does not exist: refused too, audited */
	assert_true(strncmp(ask(fd, "WRITE " GPU " config 0 00"), "ERR no_mapping ", 15) == 0);
	assert_true(strncmp(ask(fd, "WRITE " BMC " rom 7 0102"), "ERR no_mapping ", 15) == 0);
	assert_true(strncmp(ask(fd, "WRITE 0000:99:00.0 rom 0 01"), "ERR no_mapping ", 15) == 0);
	read_audit(&x->d, after);
	assert_int_equal(after->n, before->n + 4);
	for (size_t i = before->n; i < after->n; i++) {
		assert_int_equal(after->r[i].source, FWG_SRC_GUEST);
		assert_int_equal(after->r[i].reason, FWG_R_NO_MAPPING);
	}
	/* a malformed WRITE is a bad request and is not audited */
	assert_true(strncmp(ask(fd, "WRITE " NIC " firmware 0 abc"), "ERR bad_request ", 16) == 0);
	read_audit(&x->d, after);
	assert_int_equal(after->n, before->n + 4);
	close(fd);
	cl_guestif_stats st;
	cl_guestif_stats_get(x->g, "enc-a", &st);
	assert_int_equal(st.writes_audited, 4);
	free(before);
	free(after);
}

static void overlong_line_closes(void **state)
{
	gx *x = *state;
	int fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	char big[CL_GUESTIF_LINE_MAX + 10];
	memset(big, 'A', sizeof(big));
	send_all(fd, big, sizeof(big));
	char buf[1024];
	const char *a = read_line(fd, buf, sizeof(buf));
	assert_non_null(a);
	assert_string_equal(a, "ERR bad_request request line longer than 512 bytes");
	assert_null(read_line(fd, buf, sizeof(buf))); /* closed */
	close(fd);
	/* exactly 512 bytes with the newline is still a request */
	fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	memset(big, 'A', CL_GUESTIF_LINE_MAX - 1);
	big[CL_GUESTIF_LINE_MAX - 1] = '\n';
	send_all(fd, big, CL_GUESTIF_LINE_MAX);
	a = read_line(fd, buf, sizeof(buf));
	assert_non_null(a);
	assert_string_equal(a, "ERR bad_request unknown request (LIST, READ, WRITE)");
	assert_true(strncmp(ask(fd, "LIST"), "OK ", 3) == 0);
	/* a request and then EOF: answered, then closed */
	send_all(fd, "READ " NIC "\n", strlen("READ " NIC "\n"));
	shutdown(fd, SHUT_WR);
	assert_true(strncmp(read_line(fd, buf, sizeof(buf)), "OK ", 3) == 0);
	assert_null(read_line(fd, buf, sizeof(buf)));
	close(fd);
}

static void rate_limits_audited_writes(void **state)
{
	gx *x = *state; /* rate 1/s, burst 3 */
	recs *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	assert_non_null(before);
	assert_non_null(after);
	read_audit(&x->d, before);
	int fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	uint64_t t0 = cl_now_mono_ns();
	int refused = 0, limited = 0;
	for (int i = 0; i < 12; i++) {
		const char *a = ask(fd, "WRITE " NIC " config 0 00");
		if (strncmp(a, "ERR no_mapping ", 15) == 0)
			refused++;
		else if (strncmp(a, "ERR rate_limited ", 17) == 0)
			limited++;
		else
			fail_msg("unexpected answer: %s", a);
	}
	uint64_t secs = (cl_now_mono_ns() - t0) / 1000000000ull;
	assert_int_equal(refused + limited, 12);
	assert_true(refused >= 3 && (uint64_t)refused <= 3 + secs + 1);
	assert_true(limited >= 1);
	read_audit(&x->d, after);
	assert_int_equal(after->n, before->n + (size_t)refused); /* rate-limited ones are not audited */
	cl_guestif_stats st;
	cl_guestif_stats_get(x->g, "enc-a", &st);
	assert_int_equal(st.writes_audited, (uint64_t)refused);
	assert_int_equal(st.writes_suppressed, (uint64_t)limited);
	/* reads are not rate-limited */
	assert_true(strncmp(ask(fd, "LIST"), "OK ", 3) == 0);
	/* another enclave has its own bucket */
	assert_int_equal(cl_guestif_add(x->g, "enc-b", NULL, 0), CL_OK);
	int fb = connect_to(x->base, "enc-b");
	assert_true(fb >= 0);
	assert_true(strncmp(ask(fb, "WRITE " NIC " config 0 00"), "ERR no_mapping ", 15) == 0);
	close(fb);
	close(fd);
	free(before);
	free(after);
}

/* Many enclaves together cannot grow the audit log faster than the host-wide
 * bucket: each enclave is well inside its own (100/s), the host's is 1/s
 * burst 3. */
static void host_wide_write_limit(void **state)
{
	gx *x = *state;
	recs *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	assert_non_null(before);
	assert_non_null(after);
	read_audit(&x->d, before);
	assert_int_equal(cl_guestif_add(x->g, "enc-b", NULL, 0), CL_OK);
	int fa = connect_to(x->base, "enc-a"), fb = connect_to(x->base, "enc-b");
	assert_true(fa >= 0 && fb >= 0);
	uint64_t t0 = cl_now_mono_ns();
	int refused = 0, limited = 0;
	for (int i = 0; i < 10; i++) {
		const char *a = ask(i % 2 ? fb : fa, "WRITE " NIC " firmware 0 00");
		if (strncmp(a, "ERR no_mapping ", 15) == 0)
			refused++;
		else if (strncmp(a, "ERR rate_limited ", 17) == 0 && strstr(a, "on this host"))
			limited++;
		else
			fail_msg("unexpected answer: %s", a);
	}
	uint64_t secs = (cl_now_mono_ns() - t0) / 1000000000ull;
	assert_true(refused >= 3 && (uint64_t)refused <= 3 + secs + 1);
	assert_int_equal(refused + limited, 10);
	read_audit(&x->d, after);
	assert_int_equal(after->n, before->n + (size_t)refused);
	close(fa);
	close(fb);
	free(before);
	free(after);
}

/* Polls until connect + one LIST works or fails as wanted. */
static void connection_caps(void **state)
{
	gx *x = *state; /* 2 per enclave, 3 in all */
	char buf[512];
	int a = connect_to(x->base, "enc-a"), b = connect_to(x->base, "enc-a");
	assert_true(a >= 0 && b >= 0);
	assert_true(strncmp(ask(a, "LIST"), "OK ", 3) == 0);
	assert_true(strncmp(ask(b, "LIST"), "OK ", 3) == 0);
	int c = connect_to(x->base, "enc-a");
	assert_true(c >= 0);
	const char *ans = read_line(c, buf, sizeof(buf));
	assert_non_null(ans);
	assert_string_equal(ans, "ERR busy too many connections to the guest interface");
	assert_null(read_line(c, buf, sizeof(buf)));
	close(c);
	/* the global cap: one more for enc-b fits, the next does not */
	assert_int_equal(cl_guestif_add(x->g, "enc-b", NULL, 0), CL_OK);
	int d = connect_to(x->base, "enc-b");
	assert_true(d >= 0);
	assert_true(strncmp(ask(d, "LIST"), "OK ", 3) == 0);
	int e = connect_to(x->base, "enc-b");
	assert_true(e >= 0);
	assert_string_equal(read_line(e, buf, sizeof(buf)), "ERR busy too many connections to the guest interface");
	close(e);
	/* a slot freed is usable again */
	close(a);
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000000000ull;
	for (;;) {
		int f = connect_to(x->base, "enc-a");
		assert_true(f >= 0);
		send_all(f, "LIST\n", 5);
		const char *r = read_line(f, buf, sizeof(buf));
		close(f);
		if (r && strncmp(r, "OK ", 3) == 0)
			break;
		assert_true(cl_now_mono_ns() < deadline);
	}
	cl_guestif_stats st;
	cl_guestif_stats_get(x->g, NULL, &st);
	assert_true(st.conns_refused >= 2);
	close(b);
	close(d);
}

static void idle_connection_times_out(void **state)
{
	gx *x = *state; /* idle 300 ms */
	char buf[512];
	int fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	assert_true(strncmp(ask(fd, "LIST"), "OK ", 3) == 0);
	/* a partial line is not activity */
	send_all(fd, "LI", 2);
	const char *a = read_line(fd, buf, sizeof(buf)); /* waits up to 10 s */
	assert_non_null(a);
	assert_string_equal(a, "ERR timeout no request for 300 ms");
	assert_null(read_line(fd, buf, sizeof(buf)));
	close(fd);
	cl_guestif_stats st;
	cl_guestif_stats_get(x->g, "enc-a", &st);
	assert_int_equal(st.idle_closed, 1);
}

static void remove_and_restart(void **state)
{
	gx *x = *state;
	char buf[512], dir[256], sock[300];
	assert_int_equal(cl_guestif_add(x->g, "enc-c", dir, sizeof(dir)), CL_OK);
	assert_true(strncmp(dir, x->base, strlen(x->base)) == 0 && strcmp(dir + strlen(x->base), "/enc-c") == 0);
	snprintf(sock, sizeof(sock), "%s/fw.sock", dir);
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	int fd = connect_to(x->base, "enc-c");
	assert_true(fd >= 0);
	assert_true(strncmp(ask(fd, "LIST"), "OK ", 3) == 0);
	/* remove: directory gone, open connection closed */
	cl_guestif_remove(x->g, "enc-c");
	assert_int_equal(access(dir, F_OK), -1);
	assert_null(read_line(fd, buf, sizeof(buf)));
	close(fd);
	assert_int_equal(connect_to(x->base, "enc-c"), -ENOENT);
	/* stop: the socket file stays, nobody answers; a new server re-binds it */
	int old = connect_to(x->base, "enc-a");
	assert_true(old >= 0);
	cl_guestif_stop(x->g);
	assert_null(read_line(old, buf, sizeof(buf))); /* closed by the stop */
	close(old);
	x->g = NULL;
	assert_int_equal(connect_to(x->base, "enc-a"), -ECONNREFUSED);
	assert_int_equal(cl_guestif_start(x->d.h, x->base, NULL, &x->g), CL_OK);
	assert_int_equal(cl_guestif_add(x->g, "enc-a", NULL, 0), CL_OK);
	fd = connect_to(x->base, "enc-a");
	assert_true(fd >= 0);
	assert_true(strncmp(ask(fd, "READ " NIC), "OK ", 3) == 0);
	close(fd);
	/* bad ids change nothing */
	assert_int_equal(cl_guestif_add(x->g, "../x", NULL, 0), CL_EINVAL);
	assert_int_equal(cl_guestif_add(x->g, "", NULL, 0), CL_EINVAL);
	assert_int_equal(cl_guestif_add(x->g, "enc-d", dir, 4), CL_ETOOBIG);
	snprintf(sock, sizeof(sock), "%s/enc-d", x->base);
	assert_int_equal(access(sock, F_OK), -1);
}

static bool keep_a(const char *id, void *ctx)
{
	return strcmp(id, "enc-a") == 0;
}

static void prunes_stale_dirs(void **state)
{
	gx *x = *state;
	char p[300];
	snprintf(p, sizeof(p), "%s/enc-gone", x->base);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/not_an_id", x->base);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(cl_guestif_prune(x->base, keep_a, NULL), 1);
	snprintf(p, sizeof(p), "%s/enc-gone", x->base);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/enc-a/fw.sock", x->base);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/not_an_id", x->base);
	assert_int_equal(access(p, F_OK), 0);
}

/* ---- a real enclave (root) ---- */

static char build_dir[PATH_MAX], host_exe[PATH_MAX + 32], init_exe[PATH_MAX + 32], client_exe[PATH_MAX + 32];

static bool find_build(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = '\0';
	for (int i = 0; i < 2; i++) { /* BUILD/tests/test_guestif */
		char *slash = strrchr(self, '/');
		if (!slash)
			return false;
		*slash = '\0';
	}
	snprintf(build_dir, sizeof(build_dir), "%s", self);
	snprintf(host_exe, sizeof(host_exe), "%s/bin/cloister-host", self);
	snprintf(init_exe, sizeof(init_exe), "%s/bin/cloister-init", self);
	snprintf(client_exe, sizeof(client_exe), "%s/examples/fwclient", self);
	return access(host_exe, X_OK) == 0 && access(init_exe, X_OK) == 0 && access(client_exe, X_OK) == 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Sends a command line to the enclave's fwclient and returns its answer line. */
static const char *enclave_ask(const char *data_dir, const char *id, const char *cmd)
{
	static char acc[65536];
	static uint8_t reply[CL_FRAME_MAX];
	char line[600];
	uint8_t type, req[8];
	uint32_t n;
	int fd;
	assert_int_equal(cl_sandbox_connect(data_dir, id, &fd), CL_OK);
	snprintf(line, sizeof(line), "%s\n", cmd);
	assert_int_equal(cl_sandbox_call(fd, CL_FRAME_DATA, line, (uint32_t)strlen(line), &type, reply, sizeof(reply), &n),
			 CL_OK);
	assert_int_equal(type, CL_FRAME_OK);
	size_t len = 0;
	uint64_t deadline = cl_now_mono_ns() + 20ull * 1000000000ull;
	while (!memchr(acc, '\n', len)) {
		assert_true(cl_now_mono_ns() < deadline);
		put_be32(req, 4096);
		put_be32(req + 4, 500);
		assert_int_equal(cl_sandbox_call(fd, CL_FRAME_RECV, req, 8, &type, reply, sizeof(reply), &n), CL_OK);
		assert_int_equal(type, CL_FRAME_DATA);
		assert_true(len + n < sizeof(acc));
		memcpy(acc + len, reply, n);
		len += n;
	}
	close(fd);
	*(char *)memchr(acc, '\n', len) = '\0';
	return acc;
}

static void enclave_sees_guest_interface(void **state)
{
	gx *x = *state;
	if (geteuid() != 0 || !find_build()) {
		fprintf(stderr, "needs root and a built cloister-host, cloister-init, examples/fwclient\n");
		fail();
	}
	char data[160], img[200], gdir[256], id[64], plain[64];
	snprintf(data, sizeof(data), "%s/data", x->d.dir);
	snprintf(img, sizeof(img), "%s/fwclient.img", x->d.dir);
	snprintf(id, sizeof(id), "gi-%d", (int)getpid());
	snprintf(plain, sizeof(plain), "gi-plain-%d", (int)getpid());
	cl_image_input in = {client_exe, "fwclient"};
	cl_image_spec is = {"fwclient", "1", "/fwclient", NULL, &in, 1};
	assert_int_equal(cl_image_build(&is, img), CL_OK);
	/* the data dir is root's 0700, as the agent makes it: the enclave's uid
	 * could not search it, only the mount reaches the socket */
	assert_int_equal(cl_mkdir_p(data, 0700), CL_OK);
	assert_int_equal(cl_guestif_add(x->g, id, gdir, sizeof(gdir)), CL_OK);
	cl_sandbox_spec spec = {.id = id, .image_path = img, .init_path = init_exe, .memory_bytes = 64u << 20, .cpus = 1};
	cl_sandbox_info info;
	cl_err e = cl_sandbox_launch_guest(host_exe, data, &spec, gdir, &info);
	if (e != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	const char *a = enclave_ask(data, id, "LS");
	assert_string_equal(a, "LS fw.sock nsm.sock");
	a = enclave_ask(data, id, "READ " NIC);
	assert_true(strncmp(a, "OK {\"addr\":\"" NIC "\"", 12 + strlen(NIC) + 1) == 0);
	a = enclave_ask(data, id, "LIST");
	assert_true(strncmp(a, "OK {\"devices\":[", 15) == 0);
	a = enclave_ask(data, id, "WRITE " NIC " firmware 0 cafe");
	assert_true(strncmp(a, "ERR no_mapping ", 15) == 0);
	a = enclave_ask(data, id, "TOUCH");
	assert_string_equal(a, "TOUCH error=EROFS");
	a = enclave_ask(data, id, "MOUNT");
	assert_true(strncmp(a, "MOUNT ro,", 9) == 0);
	for (size_t i = 0; i < 3; i++) {
		static const char *const flags[] = {",nosuid", ",nodev", ",noexec"};
		if (!strstr(a, flags[i]))
			fail_msg("/dev/cloister lacks %s: %s", flags[i] + 1, a);
	}
	char leaked[300];
	snprintf(leaked, sizeof(leaked), "%s/probe-file", gdir);
	assert_int_equal(access(leaked, F_OK), -1);
	cl_guestif_stats st;
	cl_guestif_stats_get(x->g, id, &st);
	assert_int_equal(st.writes_audited, 1);
	/* a restarted server (new socket in the same directory) is reached by
	 * the running enclave */
	cl_guestif_stop(x->g);
	x->g = NULL;
	a = enclave_ask(data, id, "CONNECT");
	assert_string_equal(a, "CONNECT error=ECONNREFUSED");
	assert_int_equal(cl_guestif_start(x->d.h, x->base, NULL, &x->g), CL_OK);
	assert_int_equal(cl_guestif_add(x->g, id, NULL, 0), CL_OK);
	a = enclave_ask(data, id, "READ " GPU);
	assert_true(strncmp(a, "OK {", 4) == 0);
	/* an enclave launched without a guest directory has no /dev/cloister */
	spec.id = plain;
	e = cl_sandbox_launch(host_exe, data, &spec, &info);
	if (e != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	assert_string_equal(enclave_ask(data, plain, "LS"), "LS error=ENOENT");
	assert_string_equal(enclave_ask(data, plain, "MOUNT"), "MOUNT none");
	assert_string_equal(enclave_ask(data, plain, "CONNECT"), "CONNECT error=ENOENT");
	/* a guest directory that does not exist fails the launch, naming the step */
	char missing[300], bad[64];
	snprintf(missing, sizeof(missing), "%s/nope", x->base);
	snprintf(bad, sizeof(bad), "gi-bad-%d", (int)getpid());
	spec.id = bad;
	assert_int_equal(cl_sandbox_launch_guest(host_exe, data, &spec, missing, &info), CL_ENOTFOUND);
	assert_non_null(strstr(cl_error_detail(), "guest"));
	assert_int_equal(cl_sandbox_destroy(data, id), CL_OK);
	assert_int_equal(cl_sandbox_destroy(data, plain), CL_OK);
	cl_guestif_remove(x->g, id);
	assert_int_equal(access(gdir, F_OK), -1);
}

/* docs/guest-interface.md states the limits the code has (the test runs from
 * the repository root, as tests/run.sh does, or from BUILD/..). */
static void docs_match_limits(void **state)
{
	cl_buf doc;
	cl_buf_init(&doc, 1 << 20);
	char alt[PATH_MAX + 64];
	(void)find_build();
	snprintf(alt, sizeof(alt), "%s/../docs/guest-interface.md", build_dir[0] ? build_dir : ".");
	if (cl_file_read("docs/guest-interface.md", 1 << 20, &doc) != CL_OK)
		assert_int_equal(cl_file_read(alt, 1 << 20, &doc), CL_OK);
	const char *text;
	assert_int_equal(cl_buf_cstr(&doc, &text), CL_OK);
	char want[6][64];
	snprintf(want[0], sizeof(want[0]), "**%d/s, burst %d**", CL_GUESTIF_WRITE_RATE, CL_GUESTIF_WRITE_BURST);
	snprintf(want[1], sizeof(want[1]), "**%d s** without a complete request", CL_GUESTIF_IDLE_MS / 1000);
	snprintf(want[2], sizeof(want[2]), "| connections per enclave | **%d**", CL_GUESTIF_PER_ENCLAVE);
	snprintf(want[3], sizeof(want[3]), "| connections in all | **%d** |", CL_GUESTIF_MAX_CONNS);
	snprintf(want[4], sizeof(want[4]), "**%d bytes including its `\\n`**", CL_GUESTIF_LINE_MAX);
	snprintf(want[5], sizeof(want[5]), "**%d/s, burst %d** for all enclaves", CL_GUESTIF_HOST_RATE,
		 CL_GUESTIF_HOST_BURST);
	for (size_t i = 0; i < 6; i++)
		if (!strstr(text, want[i]))
			fail_msg("docs/guest-interface.md does not say: %s", want[i]);
	cl_buf_free(&doc);
}

int main(void)
{
#define T(f) cmocka_unit_test(f)
#define S(f, setup) cmocka_unit_test_setup_teardown(f, setup, gx_teardown)
	const struct CMUnitTest tests[] = {
		T(parses_good_requests),
		T(refuses_bad_requests),
		T(refuses_overlong_and_oversized),
		T(formats_responses),
		T(token_bucket),
		S(reads_identity_only, gx_setup),
		S(prepared_then_handed_over, gx_setup),
		S(write_refused_and_audited, gx_setup),
		S(overlong_line_closes, gx_setup),
		S(rate_limits_audited_writes, gx_setup_small),
		S(host_wide_write_limit, gx_setup_host),
		S(connection_caps, gx_setup_small),
		S(idle_connection_times_out, gx_setup_idle),
		S(remove_and_restart, gx_setup),
		S(prunes_stale_dirs, gx_setup),
		S(enclave_sees_guest_interface, gx_setup),
		T(docs_match_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
