/* fwdev_update.c — the management port (update, trust root, window policy,
 * revert, queue), the power-on queue, and the guest interface. Each request
 * passes the same gate (route, device, window) under the host lock; each
 * outcome is audited; a refusal commits nothing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fwguard/fwdev_internal.h"

/* Route, device, window. On refusal: audited, *d = NULL, error returned. */
static cl_err gate(fwg_host *h, fwg_event *e, fwg_dev **d, bool need_window, fwg_outcome *out)
{
	*d = NULL;
	if (!fwg_route_allowed(h, e->src, e->addr)) {
		e->reason = FWG_R_ROUTE_DENIED;
		return fwg_refuse(h, e, out);
	}
	if (!(*d = fwg_find(h, e->addr))) {
		e->reason = FWG_R_NO_DEVICE;
		return fwg_refuse(h, e, out);
	}
	if (need_window && !fwg_window_open(h, *d, NULL)) {
		*d = NULL;
		e->reason = FWG_R_WINDOW_CLOSED;
		return fwg_refuse(h, e, out);
	}
	return CL_OK;
}

static cl_err refuse_status(fwg_host *h, fwg_event *e, fw_status s, fwg_outcome *out)
{
	e->reason = (uint16_t)s;
	return fwg_refuse(h, e, out);
}

cl_err fwg_update_locked(fwg_host *h, fwg_source src, fwg_dev *d, const uint8_t *bundle, size_t len,
			 fwg_outcome *out)
{
	fwg_event e = {.op = FWG_OP_UPDATE, .src = src, .addr = d->addr, .input = bundle, .input_len = len};
	fw_result res;
	char detail[FWA_DETAIL_MAX + 1], commit[32];
	if (len > FWG_MAX_BUNDLE) {
		e.input = NULL; /* not even parsed for the record */
		e.reason = FWG_R_TOO_BIG;
		return fwg_refuse(h, &e, out);
	}
	uint8_t *dest = malloc(len ? len : 1);
	if (!dest)
		return CL_ENOMEM;
	fw_device dev = {.component = d->addr, .counter = d->st.counter, .now = fwg_wall_now(h),
			 .trust_floor = d->st.trust_version};
	memcpy(dev.vendor, d->vendor, FW_UUID_LEN);
	memcpy(dev.class_id, d->class_id, FW_UUID_LEN);
	fw_status s = fwg_verify_with_devkey(h, d, &dev, bundle, len, dest, len, &res);
	explicit_bzero(dest, len ? len : 1); /* a decrypted image is the vendor's secret */
	free(dest);
	if (s != FW_OK)
		return refuse_status(h, &e, s, out);
	int slot = d->st.active == FWG_NO_SLOT ? 0 : 1 - d->st.active;
	fwg_state st = d->st;
	st.slot[slot].valid = 1;
	st.slot[slot].sequence = res.sequence;
	st.slot[slot].size = len;
	snprintf(st.slot[slot].version, sizeof(st.slot[slot].version), "%s", res.version);
	st.last_good = d->st.active;
	st.active = (uint8_t)slot;
	st.counter = res.sequence;
	/* The intent first (a kill from here on is resolved at the next lock),
	 * then the inactive slot (the device still boots the active one), then
	 * one rename switches slot and counter together. */
	snprintf(commit, sizeof(commit), "gen %llu", (unsigned long long)d->st.generation + 1);
	CL_GUARD(fwg_intent(h, &e, commit));
	if (fwg_slot_write(h, d, slot, bundle, len) != CL_OK || fwg_state_commit(h, d, &st) != CL_OK) {
		snprintf(detail, sizeof(detail), "flash: %s", cl_error_detail());
		e.detail = detail;
		e.reason = FWG_R_IO;
		return fwg_refuse(h, &e, out);
	}
	snprintf(detail, sizeof(detail), "slot %c, %zu signers", 'A' + slot, res.signers);
	e.result = FWG_RES_ACCEPTED;
	e.detail = detail;
	return fwg_audit_committed(h, &e, out);
}

cl_err fwg_mgmt_update(fwg_host *h, fwg_source src, const char *addr, const uint8_t *bundle, size_t len,
		       fwg_outcome *out)
{
	fwg_event e = {.op = FWG_OP_UPDATE, .src = src, .addr = addr ? addr : "", .input = bundle, .input_len = len};
	fwg_dev *d;
	CL_GUARD(fwg_lock(h));
	cl_err err = gate(h, &e, &d, true, out);
	if (err == CL_OK)
		err = fwg_update_locked(h, src, d, bundle, len, out);
	fwg_unlock(h);
	return err;
}

cl_err fwg_mgmt_trust(fwg_host *h, fwg_source src, const char *addr, const uint8_t *doc, size_t len,
		      fwg_outcome *out)
{
	fwg_event e = {.op = FWG_OP_TRUST, .src = src, .addr = addr ? addr : "", .input_len = len};
	fwg_dev *d;
	char leaf[32], path[PATH_MAX], detail[64], commit[32];
	fw_trust *t = malloc(2 * sizeof(fw_trust));
	if (!t)
		return CL_ENOMEM;
	cl_err err = fwg_lock(h);
	if (err != CL_OK)
		goto done;
	if ((err = gate(h, &e, &d, true, out)) != CL_OK)
		goto out;
	t[0] = d->trust; /* applied on a copy: memory changes only after the commit */
	/* A document already expired would be accepted and then refuse every
	 * bundle until the next rotation: refused now, nothing changed. */
	fw_status s = len > (1u << 16) ? FW_E_OVERSIZED
				       : fw_trust_apply_at(&t[0], &t[1], doc, len, fwg_wall_now(h), &h->ops);
	if (s != FW_OK) {
		err = refuse_status(h, &e, s, out);
		goto out;
	}
	fwg_state st = d->st;
	st.trust_version = t[0].version;
	snprintf(leaf, sizeof(leaf), "trust-%llu", (unsigned long long)t[0].version);
	snprintf(commit, sizeof(commit), "gen %llu", (unsigned long long)d->st.generation + 1);
	if ((err = fwg_intent(h, &e, commit)) != CL_OK)
		goto out;
	/* trust-N is not read until the state names N: a kill before the commit leaves it unused. */
	if (fwg_path(h, d->addr, leaf, path, sizeof(path)) != CL_OK ||
	    cl_file_write_atomic(path, doc, len, 0600) != CL_OK || fwg_state_commit(h, d, &st) != CL_OK) {
		e.reason = FWG_R_IO;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	d->trust = t[0];
	snprintf(detail, sizeof(detail), "trust root v%llu, k=%llu of %zu", (unsigned long long)t[0].version,
		 (unsigned long long)t[0].threshold, t[0].nkeys);
	e.result = FWG_RES_ACCEPTED;
	e.detail = detail;
	err = fwg_audit_committed(h, &e, out);
out:
	fwg_unlock(h);
done:
	free(t);
	return err;
}

cl_err fwg_mgmt_window(fwg_host *h, fwg_source src, const char *addr, const uint8_t *doc, size_t len,
		       fwg_outcome *out)
{
	fwg_event e = {.op = FWG_OP_WINDOW, .src = src, .addr = addr ? addr : "", .input_len = len};
	fwg_dev *d;
	fw_window_policy p;
	char detail[FWA_DETAIL_MAX + 1], commit[32];
	CL_GUARD(fwg_lock(h));
	cl_err err = gate(h, &e, &d, true, out);
	if (err != CL_OK)
		goto out;
	fw_status s = fwg_window_policy_verify(d, &h->ops, doc, len, &p);
	if (s != FW_OK) {
		err = refuse_status(h, &e, s, out);
		goto out;
	}
	/* Authentic; now: is it for this device, on this host, in this power
	 * cycle? A policy accepted elsewhere is not accepted here. */
	const char *why = fwg_window_policy_mismatch(h, d, &p);
	if (why) {
		e.reason = FWG_R_WRONG_TARGET;
		e.detail = why;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	if (p.version <= d->st.policy_version) {
		e.reason = FWG_R_POLICY_REPLAY;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	fwg_state st = d->st;
	st.policy_version = p.version;
	st.next_window_s = p.seconds;
	snprintf(commit, sizeof(commit), "gen %llu", (unsigned long long)d->st.generation + 1);
	if ((err = fwg_intent(h, &e, commit)) != CL_OK)
		goto out;
	if (fwg_state_commit(h, d, &st) != CL_OK) {
		e.reason = FWG_R_IO;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	snprintf(detail, sizeof(detail), "policy v%llu (%s%s): %llu s from the next power-on",
		 (unsigned long long)p.version, p.any ? "any device" : "this device",
		 p.power_cycle ? ", one-shot" : "", (unsigned long long)p.seconds);
	e.result = FWG_RES_ACCEPTED;
	e.detail = detail;
	err = fwg_audit_committed(h, &e, out);
out:
	fwg_unlock(h);
	return err;
}

cl_err fwg_mgmt_revert(fwg_host *h, fwg_source src, const char *addr, fwg_outcome *out)
{
	fwg_event e = {.op = FWG_OP_REVERT, .src = src, .addr = addr ? addr : ""};
	fwg_dev *d;
	char detail[64], commit[32];
	CL_GUARD(fwg_lock(h));
	cl_err err = gate(h, &e, &d, true, out);
	if (err != CL_OK)
		goto out;
	uint8_t to = d->st.last_good;
	if (to == FWG_NO_SLOT || fwg_verify_slot(h, d, to) != FW_OK) {
		e.reason = FWG_R_NO_REVERT;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	fwg_state st = d->st;
	st.active = to;
	st.last_good = d->st.active; /* counter unchanged: installs stay above it */
	snprintf(commit, sizeof(commit), "gen %llu", (unsigned long long)d->st.generation + 1);
	if ((err = fwg_intent(h, &e, commit)) != CL_OK)
		goto out;
	if (fwg_state_commit(h, d, &st) != CL_OK) {
		e.reason = FWG_R_IO;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	snprintf(detail, sizeof(detail), "slot %c -> %c (%s)", 'A' + st.last_good, 'A' + to, st.slot[to].version);
	e.result = FWG_RES_ACCEPTED;
	e.detail = detail;
	err = fwg_audit_committed(h, &e, out);
out:
	fwg_unlock(h);
	return err;
}

static cl_err pending_dir(fwg_host *h, const char *addr, char *out, size_t n)
{
	int w = snprintf(out, n, "%s/pending/%s", h->dir, addr);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "path too long");
	return CL_OK;
}

/* Sorted names of the queued files (fixed-width numbers sort as text). */
static int list_pending(const char *dir, char names[][32], int max)
{
	int n = 0;
	DIR *dd = opendir(dir);
	if (!dd)
		return 0;
	struct dirent *e;
	while ((e = readdir(dd)) != NULL && n < max) {
		size_t l = strlen(e->d_name);
		if (l == 23 && strcmp(e->d_name + 20, ".fw") == 0)
			memcpy(names[n++], e->d_name, 24); /* 23 chars + NUL, checked above */
	}
	closedir(dd);
	qsort(names, (size_t)n, 32, (int (*)(const void *, const void *))strcmp);
	return n;
}

cl_err fwg_mgmt_queue(fwg_host *h, fwg_source src, const char *addr, const uint8_t *bundle, size_t len,
		      fwg_outcome *out)
{
	fwg_event e = {.op = FWG_OP_QUEUE, .src = src, .addr = addr ? addr : "", .input = bundle, .input_len = len};
	fwg_dev *d;
	char dir[PATH_MAX], path[PATH_MAX + 32], names[FWG_MAX_PENDING][32], commit[48];
	fw_bundle_view *v = malloc(sizeof(*v));
	if (!v)
		return CL_ENOMEM;
	cl_err err = fwg_lock(h);
	if (err != CL_OK)
		goto done;
	if ((err = gate(h, &e, &d, false, out)) != CL_OK)
		goto out;
	if (len > FWG_MAX_BUNDLE) {
		e.input = NULL;
		e.reason = FWG_R_TOO_BIG;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	fw_status s = fw_bundle_parse(bundle, len, v);
	if (s == FW_OK && strcmp(v->m.component, d->addr) != 0)
		s = FW_E_WRONG_COMPONENT;
	if (s != FW_OK) {
		err = refuse_status(h, &e, s, out);
		goto out;
	}
	CL_GUARD_OUT(err, pending_dir(h, d->addr, dir, sizeof(dir)));
	int n = list_pending(dir, names, FWG_MAX_PENDING);
	if (n >= FWG_MAX_PENDING) {
		e.reason = FWG_R_TOO_BIG;
		e.detail = "pending queue full";
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	unsigned long long next = n ? strtoull(names[n - 1], NULL, 10) + 1 : 1;
	if (snprintf(path, sizeof(path), "%s/%020llu.fw", dir, next) >= (int)sizeof(path)) {
		e.reason = FWG_R_IO;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	snprintf(commit, sizeof(commit), "queue %llu", next);
	if ((err = fwg_intent(h, &e, commit)) != CL_OK)
		goto out;
	if (cl_file_write_atomic(path, bundle, len, 0600) != CL_OK) {
		e.reason = FWG_R_IO;
		err = fwg_refuse(h, &e, out);
		goto out;
	}
	e.result = FWG_RES_ACCEPTED;
	e.detail = "queued for the next power-on";
	err = fwg_audit_committed(h, &e, out);
out:
	fwg_unlock(h);
done:
	free(v);
	return err;
}

cl_err fwg_apply_pending(fwg_host *h)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], names[FWG_MAX_PENDING][32];
	cl_buf b;
	cl_err err = CL_OK;
	cl_buf_init(&b, FWG_MAX_BUNDLE);
	for (size_t i = 0; i < h->ndev && err == CL_OK; i++) {
		fwg_dev *d = &h->dev[i];
		if (!fwg_window_open(h, d, NULL))
			continue; /* stays queued: the device is not locked until a power-cycle applies it */
		CL_GUARD_OUT(err, pending_dir(h, d->addr, dir, sizeof(dir)));
		int n = list_pending(dir, names, FWG_MAX_PENDING);
		for (int k = 0; k < n; k++) {
			if (snprintf(path, sizeof(path), "%s/%s", dir, names[k]) >= (int)sizeof(path)) {
				err = cl_errorf(CL_EINVAL, "path too long");
				goto out;
			}
			CL_GUARD_OUT(err, cl_file_read(path, b.max, &b));
			cl_err r = fwg_update_locked(h, FWG_SRC_MGMT, d, b.data, b.len, NULL);
			if (r == CL_EIO || r == CL_ENOMEM || r == CL_EPROTO) {
				err = r; /* storage trouble: keep the file for the next power-on */
				goto out;
			}
			/* Applied or refused (audited either way): it leaves the queue. */
			if (unlink(path) != 0) {
				err = cl_errorf(CL_EIO, "unlink %s: %s", path, strerror(errno));
				goto out;
			}
		}
	}
out:
	cl_buf_free(&b);
	return err;
}

cl_err fwg_guest_read(fwg_host *h, const char *addr, fwg_identity *out)
{
	memset(out, 0, sizeof(*out));
	CL_GUARD(fwg_lock(h));
	fwg_dev *d = fwg_find(h, addr);
	if (!d) {
		fwg_unlock(h);
		return cl_errorf(CL_ENOTFOUND, "no device at that address");
	}
	snprintf(out->addr, sizeof(out->addr), "%s", d->addr);
	snprintf(out->name, sizeof(out->name), "%s", d->name);
	memcpy(out->vendor, d->vendor, FW_UUID_LEN);
	memcpy(out->class_id, d->class_id, FW_UUID_LEN);
	if (d->st.active != FWG_NO_SLOT)
		snprintf(out->version, sizeof(out->version), "%s", d->st.slot[d->st.active].version);
	out->locked = !fwg_window_open(h, d, NULL) && fwg_pending_count(h, d->addr) == 0;
	fwg_unlock(h);
	return CL_OK;
}

cl_err fwg_guest_write(fwg_host *h, const char *addr, fwg_region region, uint64_t offset, const uint8_t *data,
		       size_t len, fwg_outcome *out)
{
	static const char *const regions[] = {"?", "firmware", "config", "rom"};
	char detail[FWA_DETAIL_MAX + 1];
	snprintf(detail, sizeof(detail), "write %zu bytes at %s+0x%llx: no mapping", len,
		 regions[region >= 1 && region <= 3 ? region : 0], (unsigned long long)offset);
	/* Nothing is mapped, so nothing is looked at: only the attempt is recorded. */
	fwg_event e = {.op = FWG_OP_GUEST_WRITE, .src = FWG_SRC_GUEST, .addr = addr ? addr : "",
		       .reason = FWG_R_NO_MAPPING, .input_len = len, .detail = detail};
	(void)data;
	CL_GUARD(fwg_lock(h));
	cl_err err = fwg_refuse(h, &e, out);
	fwg_unlock(h);
	return err;
}
