/* fwdev_host.c — the host: manufacture, open, power-on, boot, the secure
 * clock's window, the I/O hub's routing, locking, status and quarantine. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "fwguard/fwdev_internal.h"

static const fwg_device_spec default_devices[] = {
	{"nic", "0000:03:00.0",
	 {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8},
	 {0x2b, 0x0e, 0x0c, 0xbe, 0x5b, 0x2c, 0x4f, 0x44, 0x9d, 0x3b, 0x7f, 0x0c, 0x6a, 0x3c, 0x1e, 0x55}},
	{"gpu", "0000:65:00.0",
	 {0x10, 0xde, 0x00, 0x00, 0x6a, 0x1b, 0x4c, 0x2e, 0x9f, 0x11, 0x5e, 0x37, 0x42, 0x00, 0x10, 0xde},
	 {0x03, 0x02, 0x00, 0x00, 0x7c, 0x4d, 0x4b, 0x8a, 0xa2, 0x19, 0x0b, 0x55, 0x6e, 0x21, 0x03, 0x02}},
	{"bmc", "0000:01:00.0",
	 {0x1a, 0x03, 0x00, 0x00, 0x3f, 0x6e, 0x4d, 0x1c, 0x8e, 0x27, 0x61, 0x0a, 0x9b, 0x55, 0x1a, 0x03},
	 {0x0c, 0x07, 0x00, 0x00, 0x21, 0x9a, 0x47, 0x3d, 0xb0, 0x6c, 0x3e, 0x84, 0x0f, 0x12, 0x0c, 0x07}},
};

const fwg_device_spec *fwg_default_devices(size_t *n)
{
	*n = sizeof(default_devices) / sizeof(default_devices[0]);
	return default_devices;
}

uint64_t fwg_boot_now(fwg_host *h)
{
	if (h->opts.boot_ns)
		return h->opts.boot_ns(h->opts.clock_ctx);
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t fwg_wall_now(fwg_host *h)
{
	if (h->opts.wall_s)
		return h->opts.wall_s(h->opts.clock_ctx);
	return (uint64_t)time(NULL);
}

void fwg_fault(fwg_host *h, fwg_fault_point p, uint64_t arg)
{
	if (h->opts.fault)
		h->opts.fault(h->opts.fault_ctx, p, arg);
}

fwg_dev *fwg_find(fwg_host *h, const char *addr)
{
	for (size_t i = 0; addr && i < h->ndev; i++)
		if (strcmp(h->dev[i].addr, addr) == 0)
			return &h->dev[i];
	return NULL;
}

bool fwg_window_open(fwg_host *h, const fwg_dev *d, uint64_t *left_s)
{
	uint64_t now = fwg_boot_now(h), len = d->st.window_s * 1000000000ull;
	uint64_t el = now >= h->power_on_ns ? now - h->power_on_ns : UINT64_MAX; /* clock went back: closed */
	bool open = el < len;
	if (left_s)
		*left_s = open ? (len - el + 999999999ull) / 1000000000ull : 0;
	return open;
}

bool fwg_route_allowed(const fwg_host *h, fwg_source src, const char *addr)
{
	if (!h->opts.routes)
		return src == FWG_SRC_MGMT;
	for (size_t i = 0; i < h->opts.nroutes; i++)
		if (h->opts.routes[i].source == src &&
		    (strcmp(h->opts.routes[i].addr, "*") == 0 || strcmp(h->opts.routes[i].addr, addr) == 0))
			return true;
	return false;
}

cl_err fwg_lock(fwg_host *h)
{
	pthread_mutex_lock(&h->mu);
	while (flock(h->lockfd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		pthread_mutex_unlock(&h->mu);
		return cl_errorf(CL_ESYS, "flock: %s", strerror(errno));
	}
	/* Another process may have changed any device: re-read them all. */
	for (size_t i = 0; i < h->ndev; i++) {
		fwg_dev *d = &h->dev[i];
		uint64_t tv = d->st.trust_version;
		cl_err err = fwg_state_load(h, d);
		if (err == CL_OK && (tv != d->st.trust_version || !d->trust_ok))
			err = fwg_trust_load(h, d);
		if (err != CL_OK) {
			fwg_unlock(h);
			return err;
		}
	}
	uint64_t pon, cycle;
	bool rebooted;
	if (fwg_power_read(h, &pon, &rebooted, &cycle) == CL_OK) {
		if (!rebooted)
			h->power_on_ns = pon;
		h->power_cycle = cycle;
	}
	/* A process that died between an intent and its outcome left the intent
	 * open: resolve it before anything else happens. A broken log (EPROTO)
	 * is not resolved here: reads go on, and every change fails at its
	 * first append. */
	cl_err err = fwg_recover_intents(h);
	if (err != CL_OK && err != CL_EPROTO) {
		fwg_unlock(h);
		return err;
	}
	return CL_OK;
}

void fwg_unlock(fwg_host *h)
{
	flock(h->lockfd, LOCK_UN);
	pthread_mutex_unlock(&h->mu);
}

/* Full re-verification of one slot: signatures under the current trust
 * state, identity, digest. now = 0: use-before governs installation, not boot. */
fw_status fwg_verify_slot(fwg_host *h, fwg_dev *d, int slot)
{
	cl_buf b;
	fw_result res;
	fw_status s = FW_E_ARGUMENT;
	const fwg_slot *sl = &d->st.slot[slot];
	if (!sl->valid || sl->sequence == 0)
		return FW_E_ARGUMENT;
	cl_buf_init(&b, FWG_MAX_BUNDLE);
	if (fwg_slot_read(h, d, slot, &b) != CL_OK || b.len != sl->size) {
		s = FW_E_TRUNCATED;
		goto out;
	}
	uint8_t *dest = malloc(b.len ? b.len : 1);
	if (!dest)
		goto out;
	fw_device dev = {.component = d->addr, .counter = sl->sequence - 1, .now = 0,
			 .trust_floor = d->st.trust_version};
	memcpy(dev.vendor, d->vendor, FW_UUID_LEN);
	memcpy(dev.class_id, d->class_id, FW_UUID_LEN);
	s = fwg_verify_with_devkey(h, d, &dev, b.data, b.len, dest, b.len, &res);
	if (s == FW_OK && res.sequence != sl->sequence)
		s = FW_E_ROLLBACK;
	explicit_bzero(dest, b.len ? b.len : 1); /* a decrypted image is the vendor's secret */
	free(dest);
out:
	cl_buf_free(&b);
	return s;
}

cl_err fwg_boot_device(fwg_host *h, fwg_dev *d)
{
	fwg_event e = {.op = FWG_OP_BOOT, .src = FWG_SRC_HOST, .result = FWG_RES_EVENT, .addr = d->addr};
	char detail[FWA_DETAIL_MAX + 1];
	d->booted = false;
	if (d->st.active == FWG_NO_SLOT) {
		d->booted = true; /* blank flash */
		return CL_OK;
	}
	fw_status s = d->trust_ok ? fwg_verify_slot(h, d, d->st.active) : FW_E_TRUST_CHAIN;
	if (s == FW_OK) {
		d->booted = true;
		return CL_OK;
	}
	int other = 1 - d->st.active;
	bool fallback = d->trust_ok && fwg_verify_slot(h, d, other) == FW_OK;
	e.reason = fallback ? FWG_R_BOOT_FALLBACK : FWG_R_BOOT_FAILED;
	snprintf(detail, sizeof(detail), "active slot failed verification: %s", fw_status_name(s));
	e.detail = detail;
	/* The record first: if it cannot be written the device stays unbooted
	 * (not eligible) and its state unchanged. */
	CL_GUARD(fwg_audit(h, &e, NULL));
	if (fallback) {
		fwg_state st = d->st;
		st.active = (uint8_t)other;
		st.last_good = FWG_NO_SLOT;
		st.slot[1 - other].valid = 0;
		CL_GUARD(fwg_state_commit(h, d, &st));
		d->booted = true;
	}
	return CL_OK;
}

/* Power-on with the lock held: the window restarts at power_on_ns with the
 * length the last accepted policy set; devices boot; the queue applies.
 * The power-on record comes first: a power cycle that cannot be audited
 * does not happen (the window stays as it was, closed). A kill between the
 * record and DIR/power leaves a record of a power-on that did not reopen
 * the window: fail closed. */
static cl_err power_on_locked(fwg_host *h, uint64_t power_on_ns, fwg_source src)
{
	char detail[48];
	uint64_t cycle = h->power_cycle < FW_UINT_MAX ? h->power_cycle + 1 : FW_UINT_MAX;
	snprintf(detail, sizeof(detail), "power cycle %llu", (unsigned long long)cycle);
	fwg_event e = {.op = FWG_OP_POWER_ON, .src = src, .result = FWG_RES_EVENT, .addr = "", .detail = detail};
	CL_GUARD(fwg_audit(h, &e, NULL));
	CL_GUARD(fwg_power_write(h, power_on_ns, cycle));
	for (size_t i = 0; i < h->ndev; i++) {
		fwg_dev *d = &h->dev[i];
		if (d->st.window_s != d->st.next_window_s) {
			fwg_state st = d->st;
			st.window_s = st.next_window_s;
			CL_GUARD(fwg_state_commit(h, d, &st));
		}
	}
	for (size_t i = 0; i < h->ndev; i++)
		CL_GUARD(fwg_boot_device(h, &h->dev[i]));
	return fwg_apply_pending(h);
}

static bool addr_valid(const char *a)
{
	/* DDDD:BB:DD.F, lower-case hex. */
	static const char pat[] = "hhhh:hh:hh.h";
	if (strlen(a) != sizeof(pat) - 1)
		return false;
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] == 'h' ? !((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f')) : a[i] != pat[i])
			return false;
	}
	return true;
}

static cl_err host_alloc(const char *dir, const fwg_opts *opts, fwg_host **out)
{
	fwg_host *h = calloc(1, sizeof(*h));
	char path[PATH_MAX];
	cl_err err = CL_OK;
	if (!h)
		return CL_ENOMEM;
	h->lockfd = -1;
	h->audit.fd = -1;
	pthread_mutex_init(&h->mu, NULL);
	if (opts)
		h->opts = *opts;
	if (h->opts.policy)
		h->policy = *h->opts.policy;
	else
		fwg_policy_default(&h->policy);
	fw_openssl_ops(&h->ops, NULL);
	if (snprintf(h->dir, sizeof(h->dir), "%s", dir) >= (int)sizeof(h->dir)) {
		err = cl_errorf(CL_EINVAL, "directory path too long");
		goto out;
	}
	CL_GUARD_OUT(err, fwg_path(h, NULL, "lock", path, sizeof(path)));
	if ((h->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		err = cl_errorf(CL_EIO, "open %s: %s", path, strerror(errno));
		goto out;
	}
	CL_GUARD_OUT(err, fwg_path(h, NULL, "audit.log", path, sizeof(path)));
	CL_GUARD_OUT(err, fwa_open(path, &h->audit));
out:
	if (err != CL_OK) {
		fwg_host_close(h);
		return err;
	}
	*out = h;
	return CL_OK;
}

cl_err fwg_host_create(const char *dir, const uint8_t root[FW_POINT_LEN], const fwg_device_spec *specs,
		       size_t nspecs, const fwg_opts *opts)
{
	char path[PATH_MAX];
	fwg_host *h = NULL;
	cl_err err = CL_OK;
	struct stat st;
	if (!specs || !nspecs)
		specs = fwg_default_devices(&nspecs);
	CL_ENSURE(nspecs <= FWG_MAX_DEVICES, CL_EINVAL, "at most %d devices", FWG_MAX_DEVICES);
	for (size_t i = 0; i < nspecs; i++)
		CL_ENSURE(addr_valid(specs[i].addr) && strlen(specs[i].name) >= 1 && strlen(specs[i].name) < 16,
			  CL_EINVAL, "bad device spec %zu (address DDDD:BB:DD.F, name 1..15)", i);
	CL_GUARD(cl_mkdir_p(dir, 0700));
	CL_GUARD(host_alloc(dir, opts, &h));
	CL_GUARD_OUT(err, fwg_path(h, NULL, "devices", path, sizeof(path)));
	if (stat(path, &st) == 0) {
		err = cl_errorf(CL_ECONFLICT, "%s already holds devices (a ROM is written once)", dir);
		goto out;
	}
	CL_GUARD_OUT(err, fwg_lock(h));
	for (size_t i = 0; i < nspecs && err == CL_OK; i++) {
		fwg_dev *d = &h->dev[h->ndev];
		memset(d, 0, sizeof(*d));
		snprintf(d->addr, sizeof(d->addr), "%s", specs[i].addr);
		err = fwg_path(h, d->addr, ".", path, sizeof(path));
		if (err == CL_OK)
			err = cl_mkdir_p(path, 0700);
		if (err == CL_OK && snprintf(path, sizeof(path), "%s/pending/%s", dir, d->addr) < (int)sizeof(path))
			err = cl_mkdir_p(path, 0700);
		if (err == CL_OK)
			err = fwg_path(h, d->addr, "rom", path, sizeof(path));
		if (err == CL_OK)
			err = fwg_rom_write(path, &specs[i], root);
		if (err == CL_OK)
			err = fwg_rom_read(path, d);
		if (err == CL_OK)
			err = fwg_devkey_create(h, d);
		fwg_state s0 = {.active = FWG_NO_SLOT, .last_good = FWG_NO_SLOT, .window_s = FWG_DEFAULT_WINDOW_S,
				.next_window_s = FWG_DEFAULT_WINDOW_S};
		if (err == CL_OK)
			err = fwg_state_commit(h, d, &s0);
		if (err == CL_OK)
			err = fwg_trust_load(h, d);
		fwg_event e = {.op = FWG_OP_MANUFACTURE, .src = FWG_SRC_OPERATOR, .result = FWG_RES_EVENT,
			       .addr = d->addr, .detail = specs[i].name};
		if (err == CL_OK)
			err = fwg_audit(h, &e, NULL);
		h->ndev++;
	}
	if (err == CL_OK)
		err = power_on_locked(h, fwg_boot_now(h), FWG_SRC_OPERATOR);
	fwg_unlock(h);
out:
	fwg_host_close(h);
	return err;
}

static int cmp_dev(const void *a, const void *b)
{
	return strcmp(((const fwg_dev *)a)->addr, ((const fwg_dev *)b)->addr);
}

cl_err fwg_host_open(const char *dir, const fwg_opts *opts, fwg_host **out)
{
	char path[PATH_MAX];
	fwg_host *h = NULL;
	cl_err err = CL_OK;
	uint64_t pon, cycle;
	bool rebooted;
	*out = NULL;
	CL_GUARD(host_alloc(dir, opts, &h));
	CL_GUARD_OUT(err, fwg_path(h, NULL, "devices", path, sizeof(path)));
	DIR *dd = opendir(path);
	if (!dd) {
		err = cl_errorf(CL_ENOTFOUND, "%s: no devices (not manufactured)", dir);
		goto out;
	}
	struct dirent *e;
	while (err == CL_OK && (e = readdir(dd)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (h->ndev == FWG_MAX_DEVICES || !addr_valid(e->d_name)) {
			err = cl_errorf(CL_EPROTO, "%s: unexpected device entry", dir);
			break;
		}
		fwg_dev *d = &h->dev[h->ndev];
		memcpy(d->addr, e->d_name, 13); /* addr_valid: exactly 12 chars */
		err = fwg_path(h, d->addr, "rom", path, sizeof(path));
		if (err == CL_OK)
			err = fwg_rom_read(path, d);
		if (err == CL_OK && strcmp(d->addr, e->d_name) != 0)
			err = cl_errorf(CL_EPROTO, "%s: ROM names another address", e->d_name);
		h->ndev++;
	}
	closedir(dd);
	if (err != CL_OK)
		goto out;
	qsort(h->dev, h->ndev, sizeof(h->dev[0]), cmp_dev);
	CL_GUARD_OUT(err, fwg_lock(h));
	/* Before anything verifies a slot: the keys that decrypt them. */
	for (size_t i = 0; i < h->ndev && err == CL_OK; i++)
		err = fwg_devkey_ensure(h, &h->dev[i]);
	if (err == CL_OK)
		err = fwg_power_read(h, &pon, &rebooted, &cycle);
	if (err == CL_OK && rebooted) {
		err = power_on_locked(h, 0, FWG_SRC_HOST);
	} else if (err == CL_OK) {
		h->power_on_ns = pon;
		for (size_t i = 0; i < h->ndev && err == CL_OK; i++)
			err = fwg_boot_device(h, &h->dev[i]);
	}
	fwg_unlock(h);
out:
	if (err != CL_OK) {
		fwg_host_close(h);
		return err;
	}
	*out = h;
	return CL_OK;
}

void fwg_host_close(fwg_host *h)
{
	if (!h)
		return;
	fwa_close(&h->audit);
	if (h->lockfd >= 0)
		close(h->lockfd);
	pthread_mutex_destroy(&h->mu);
	explicit_bzero(h, sizeof(*h));
	free(h);
}

cl_err fwg_host_power_cycle(fwg_host *h, fwg_source src)
{
	cl_err err;
	CL_GUARD(fwg_lock(h));
	if (src != FWG_SRC_OPERATOR && src != FWG_SRC_MGMT) {
		fwg_event e = {.op = FWG_OP_POWER_ON, .src = src, .reason = FWG_R_NOT_ALLOWED, .addr = ""};
		err = fwg_refuse(h, &e, NULL);
	} else {
		err = power_on_locked(h, fwg_boot_now(h), src);
	}
	fwg_unlock(h);
	return err;
}

/* The log's verified head and tamper state (lock held). */
static void audit_state(const fwg_host *h, fwg_audit_state *st)
{
	memset(st, 0, sizeof(*st));
	st->seq = h->audit.seq;
	memcpy(st->head, h->audit.head, sizeof(st->head));
	st->tampered = h->audit.tampered;
	if (st->tampered) {
		st->bad_seq = h->audit.bad_seq;
		snprintf(st->why, sizeof(st->why), "%s", h->audit.why);
	}
}

cl_err fwg_host_status_get(fwg_host *h, fwg_host_status *out)
{
	memset(out, 0, sizeof(*out));
	CL_GUARD(fwg_lock(h));
	out->ndev = h->ndev;
	out->eligible = true;
	for (size_t i = 0; i < h->ndev; i++) {
		const fwg_dev *d = &h->dev[i];
		fwg_dev_status *s = &out->dev[i];
		snprintf(s->addr, sizeof(s->addr), "%s", d->addr);
		snprintf(s->name, sizeof(s->name), "%s", d->name);
		memcpy(s->vendor, d->vendor, FW_UUID_LEN);
		memcpy(s->class_id, d->class_id, FW_UUID_LEN);
		s->active_slot = d->st.active == FWG_NO_SLOT ? -1 : d->st.active;
		if (s->active_slot >= 0) {
			snprintf(s->version, sizeof(s->version), "%s", d->st.slot[d->st.active].version);
			s->sequence = d->st.slot[d->st.active].sequence;
		}
		s->counter = d->st.counter;
		s->trust_version = d->st.trust_version;
		s->window_s = d->st.window_s;
		s->next_window_s = d->st.next_window_s;
		s->policy_version = d->st.policy_version;
		s->window_open = fwg_window_open(h, d, &s->window_left_s);
		s->pending = fwg_pending_count(h, d->addr);
		s->booted = d->booted;
		s->locked = !s->window_open && s->pending == 0;
		if (d->has_devkey)
			snprintf(s->device_key, sizeof(s->device_key), "%s", d->devkey_pem);
		out->any_window_open |= s->window_open;
		out->eligible &= s->locked && s->booted;
	}
	out->power_cycle = h->power_cycle;
	audit_state(h, &out->audit);
	fwg_unlock(h);
	/* A tampered audit log fails closed: nothing can change without its
	 * record, so the host is held as quarantined (without the file, which
	 * would need a record of its own). */
	out->quarantined = fwg_quarantined(h) || out->audit.tampered;
	out->eligible &= !out->quarantined;
	return CL_OK;
}

cl_err fwg_host_set_id(fwg_host *h, const char *host_id)
{
	size_t n = host_id ? strlen(host_id) : 0;
	CL_ENSURE(n >= 1 && n <= FWG_HOST_ID_MAX, CL_EINVAL, "host id must be 1..%d characters", FWG_HOST_ID_MAX);
	for (size_t i = 0; i < n; i++)
		CL_ENSURE((host_id[i] >= 'a' && host_id[i] <= 'z') || (host_id[i] >= '0' && host_id[i] <= '9') ||
				  host_id[i] == '-',
			  CL_EINVAL, "host id must be [a-z0-9-]");
	pthread_mutex_lock(&h->mu);
	memcpy(h->host_id, host_id, n + 1);
	pthread_mutex_unlock(&h->mu);
	return CL_OK;
}

void fwg_audit_anchor(fwg_host *h, uint64_t seq, const uint8_t hash[32])
{
	pthread_mutex_lock(&h->mu);
	fwa_anchor(&h->audit, seq, hash);
	pthread_mutex_unlock(&h->mu);
}

cl_err fwg_audit_check(fwg_host *h, uint64_t after, size_t max, int (*each)(const fwg_audit_rec *r, void *ctx),
		       void *ctx, fwg_audit_state *st)
{
	/* fwg_lock checks the log (fwa_sync, via the intent recovery). */
	CL_GUARD(fwg_lock(h));
	cl_err err = fwa_each_after(&h->audit, after, max, each, ctx);
	if (st)
		audit_state(h, st);
	fwg_unlock(h);
	return err;
}

bool fwg_quarantined(fwg_host *h)
{
	char path[PATH_MAX];
	struct stat st;
	if (fwg_path(h, NULL, "quarantine", path, sizeof(path)) != CL_OK)
		return true;
	return stat(path, &st) == 0 || errno != ENOENT; /* unknown = halted */
}

cl_err fwg_quarantine_clear(fwg_host *h, fwg_source src, const char *why)
{
	char path[PATH_MAX], dir[PATH_MAX];
	cl_err err = CL_OK;
	fwg_event e = {.op = FWG_OP_CLEAR, .src = src, .addr = "", .detail = why};
	CL_GUARD(fwg_path(h, NULL, "quarantine", path, sizeof(path)));
	CL_GUARD(fwg_path(h, NULL, ".", dir, sizeof(dir)));
	CL_GUARD(fwg_lock(h));
	if (src != FWG_SRC_OPERATOR) {
		e.reason = FWG_R_NOT_ALLOWED;
		e.detail = NULL;
		err = fwg_refuse(h, &e, NULL);
		goto out;
	}
	if ((err = fwg_intent(h, &e, "clear")) != CL_OK)
		goto out;
	if (unlink(path) != 0 && errno != ENOENT) {
		err = cl_errorf(CL_EIO, "unlink %s: %s", path, strerror(errno));
		e.reason = FWG_R_IO;
		e.detail = NULL;
		cl_err closed = fwg_refuse(h, &e, NULL); /* closes the intent; err above stands */
		(void)closed;
		goto out;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		err = cl_errorf(CL_EIO, "fsync %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	/* An fsync failure leaves the intent open: recovery decides from the file. */
	e.result = FWG_RES_ACCEPTED;
	if (err == CL_OK)
		err = fwg_audit_committed(h, &e, NULL);
out:
	fwg_unlock(h);
	return err;
}
