/* fwdev_store.c — the device model's files: ROM, state, slots, trust-root
 * documents, the power-on record and the pending queue. Each small file is
 * fixed-layout big-endian with a SHA-256 trailer; each is replaced by one
 * atomic rename, so a kill leaves either the old or the new file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/util.h"
#include "fwguard/fwdev_internal.h"

#define ROM_MAGIC "CLFWROM1"
#define STATE_MAGIC "CLFWST01"
#define POWER_MAGIC "CLFWPWR2"   /* + power cycle number */
#define POWER_MAGIC_V1 "CLFWPWR1" /* read only: boot id, power-on clock */
#define BOOT_ID_LEN 36
#define FLASH_CHUNK 1024

cl_err fwg_path(const fwg_host *h, const char *addr, const char *leaf, char *out, size_t n)
{
	int w = addr ? snprintf(out, n, "%s/devices/%s/%s", h->dir, addr, leaf)
		     : snprintf(out, n, "%s/%s", h->dir, leaf);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "path too long");
	return CL_OK;
}

static cl_err put_str8(cl_buf *b, const char *s)
{
	size_t n = strlen(s);
	CL_ENSURE(n <= 255, CL_EINVAL, "string too long");
	CL_GUARD(cl_buf_put_u8(b, (uint8_t)n));
	return cl_buf_put(b, s, n);
}

static cl_err get_str8(cl_buf *b, char *out, size_t cap)
{
	uint8_t n;
	CL_GUARD(cl_buf_get_u8(b, &n));
	CL_ENSURE(n < cap, CL_EINVAL, "string too long");
	CL_GUARD(cl_buf_get(b, out, n));
	out[n] = '\0';
	return CL_OK;
}

/* Appends SHA-256 of the contents and writes atomically. */
static cl_err seal_write(const char *path, cl_buf *b, unsigned mode)
{
	uint8_t h[CL_SHA256_LEN];
	CL_GUARD(cl_sha256(b->data, b->len, h));
	CL_GUARD(cl_buf_put(b, h, sizeof(h)));
	return cl_file_write_atomic(path, b->data, b->len, mode);
}

/* Reads a sealed file and checks magic + trailer; b holds the body after magic. */
static cl_err seal_read(const char *path, const char *magic, size_t max, cl_buf *b)
{
	uint8_t h[CL_SHA256_LEN];
	CL_GUARD(cl_file_read(path, max, b));
	CL_ENSURE(b->len >= 8 + CL_SHA256_LEN && memcmp(b->data, magic, 8) == 0, CL_EPROTO, "%s: not a %s file",
		  path, magic);
	CL_GUARD(cl_sha256(b->data, b->len - CL_SHA256_LEN, h));
	CL_ENSURE(cl_ct_equal(h, b->data + b->len - CL_SHA256_LEN, CL_SHA256_LEN), CL_EPROTO, "%s: corrupt", path);
	b->len -= CL_SHA256_LEN;
	b->pos = 8;
	return CL_OK;
}

cl_err fwg_rom_write(const char *path, const fwg_device_spec *s, const uint8_t root[FW_POINT_LEN])
{
	cl_buf b;
	cl_err err = CL_OK;
	cl_buf_init(&b, 512);
	CL_GUARD_OUT(err, cl_buf_put(&b, ROM_MAGIC, 8));
	CL_GUARD_OUT(err, put_str8(&b, s->name));
	CL_GUARD_OUT(err, put_str8(&b, s->addr));
	CL_GUARD_OUT(err, cl_buf_put(&b, s->vendor, FW_UUID_LEN));
	CL_GUARD_OUT(err, cl_buf_put(&b, s->class_id, FW_UUID_LEN));
	CL_GUARD_OUT(err, cl_buf_put(&b, root, FW_POINT_LEN));
	CL_GUARD_OUT(err, seal_write(path, &b, 0444));
out:
	cl_buf_free(&b);
	return err;
}

cl_err fwg_rom_read(const char *path, fwg_dev *d)
{
	cl_buf b;
	cl_err err = CL_OK;
	cl_buf_init(&b, 512);
	CL_GUARD_OUT(err, seal_read(path, ROM_MAGIC, 512, &b));
	CL_GUARD_OUT(err, get_str8(&b, d->name, sizeof(d->name)));
	CL_GUARD_OUT(err, get_str8(&b, d->addr, sizeof(d->addr)));
	CL_GUARD_OUT(err, cl_buf_get(&b, d->vendor, FW_UUID_LEN));
	CL_GUARD_OUT(err, cl_buf_get(&b, d->class_id, FW_UUID_LEN));
	CL_GUARD_OUT(err, cl_buf_get(&b, d->root, FW_POINT_LEN));
	if (cl_buf_remaining(&b) != 0)
		err = cl_errorf(CL_EPROTO, "%s: trailing bytes", path);
out:
	cl_buf_free(&b);
	return err;
}

static cl_err write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cl_errorf(CL_EIO, "write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return CL_OK;
}

static cl_err fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", dir, strerror(errno));
	int rc = fsync(fd);
	close(fd);
	return rc ? cl_errorf(CL_EIO, "fsync %s: %s", dir, strerror(errno)) : CL_OK;
}

cl_err fwg_state_commit(fwg_host *h, fwg_dev *d, const fwg_state *st)
{
	char path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
	uint8_t hash[CL_SHA256_LEN];
	cl_buf b;
	cl_err err = CL_OK;
	int fd = -1;
	fwg_state next = *st;
	next.generation = d->st.generation + 1;
	CL_GUARD(fwg_path(h, d->addr, "state", path, sizeof(path)));
	CL_GUARD(fwg_path(h, d->addr, "state.tmp", tmp, sizeof(tmp)));
	CL_GUARD(fwg_path(h, d->addr, ".", dir, sizeof(dir)));
	cl_buf_init(&b, 512);
	CL_GUARD_OUT(err, cl_buf_put(&b, STATE_MAGIC, 8));
	CL_GUARD_OUT(err, cl_buf_put_u8(&b, next.active));
	CL_GUARD_OUT(err, cl_buf_put_u8(&b, next.last_good));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.counter));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.trust_version));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.policy_version));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.window_s));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.next_window_s));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.generation));
	for (int i = 0; i < 2; i++) {
		CL_GUARD_OUT(err, cl_buf_put_u8(&b, next.slot[i].valid));
		CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.slot[i].sequence));
		CL_GUARD_OUT(err, cl_buf_put_be64(&b, next.slot[i].size));
		CL_GUARD_OUT(err, put_str8(&b, next.slot[i].version));
	}
	CL_GUARD_OUT(err, cl_sha256(b.data, b.len, hash));
	CL_GUARD_OUT(err, cl_buf_put(&b, hash, sizeof(hash)));
	/* The temp name is fixed: the host lock is held, so no one else writes it. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = cl_errorf(CL_EIO, "create %s: %s", tmp, strerror(errno));
		goto out;
	}
	CL_GUARD_OUT(err, write_all(fd, b.data, b.len));
	if (fsync(fd) != 0) {
		err = cl_errorf(CL_EIO, "fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	fwg_fault(h, FWG_FAULT_STATE_TMP, 0);
	if (rename(tmp, path) != 0) {
		err = cl_errorf(CL_EIO, "rename %s: %s", path, strerror(errno));
		goto out;
	}
	fwg_fault(h, FWG_FAULT_STATE_RENAMED, 0);
	CL_GUARD_OUT(err, fsync_dir(dir));
	d->st = next;
out:
	if (fd >= 0)
		close(fd);
	cl_buf_free(&b);
	return err;
}

cl_err fwg_state_load(fwg_host *h, fwg_dev *d)
{
	char path[PATH_MAX];
	cl_buf b;
	cl_err err = CL_OK;
	fwg_state st;
	memset(&st, 0, sizeof(st));
	CL_GUARD(fwg_path(h, d->addr, "state", path, sizeof(path)));
	cl_buf_init(&b, 512);
	CL_GUARD_OUT(err, seal_read(path, STATE_MAGIC, 512, &b));
	CL_GUARD_OUT(err, cl_buf_get_u8(&b, &st.active));
	CL_GUARD_OUT(err, cl_buf_get_u8(&b, &st.last_good));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.counter));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.trust_version));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.policy_version));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.window_s));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.next_window_s));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.generation));
	for (int i = 0; i < 2; i++) {
		CL_GUARD_OUT(err, cl_buf_get_u8(&b, &st.slot[i].valid));
		CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.slot[i].sequence));
		CL_GUARD_OUT(err, cl_buf_get_be64(&b, &st.slot[i].size));
		CL_GUARD_OUT(err, get_str8(&b, st.slot[i].version, sizeof(st.slot[i].version)));
	}
	if (cl_buf_remaining(&b) != 0 || (st.active > 1 && st.active != FWG_NO_SLOT) ||
	    (st.last_good > 1 && st.last_good != FWG_NO_SLOT) || st.window_s > FWG_MAX_WINDOW_S ||
	    st.next_window_s > FWG_MAX_WINDOW_S) {
		err = cl_errorf(CL_EPROTO, "%s: bad values", path);
		goto out;
	}
	d->st = st;
out:
	cl_buf_free(&b);
	return err;
}

cl_err fwg_slot_write(fwg_host *h, fwg_dev *d, int slot, const uint8_t *p, size_t n)
{
	char path[PATH_MAX];
	cl_err err = CL_OK;
	CL_GUARD(fwg_path(h, d->addr, slot ? "slot-b" : "slot-a", path, sizeof(path)));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", path, strerror(errno));
	size_t done = 0;
	fwg_fault(h, FWG_FAULT_SLOT_BYTES, 0);
	while (done < n) {
		size_t k = n - done < FLASH_CHUNK ? n - done : FLASH_CHUNK;
		CL_GUARD_OUT(err, write_all(fd, p + done, k));
		done += k;
		fwg_fault(h, FWG_FAULT_SLOT_BYTES, done);
	}
	if (fsync(fd) != 0) {
		err = cl_errorf(CL_EIO, "fsync %s: %s", path, strerror(errno));
		goto out;
	}
	fwg_fault(h, FWG_FAULT_SLOT_SYNCED, n);
out:
	close(fd);
	return err;
}

cl_err fwg_slot_read(fwg_host *h, fwg_dev *d, int slot, cl_buf *out)
{
	char path[PATH_MAX];
	CL_GUARD(fwg_path(h, d->addr, slot ? "slot-b" : "slot-a", path, sizeof(path)));
	return cl_file_read(path, FWG_MAX_BUNDLE, out);
}

cl_err fwg_trust_load(fwg_host *h, fwg_dev *d)
{
	cl_buf doc;
	cl_err err = CL_OK;
	fw_trust *scratch = malloc(sizeof(*scratch));
	d->trust_ok = false;
	if (!scratch)
		return CL_ENOMEM;
	cl_buf_init(&doc, 1 << 16);
	if (fw_trust_init(&d->trust, d->root, &h->ops) != FW_OK) {
		err = cl_errorf(CL_EPROTO, "%s: bad ROM root key", d->addr);
		goto out;
	}
	for (uint64_t v = 1; v <= d->st.trust_version; v++) {
		char leaf[32], path[PATH_MAX];
		snprintf(leaf, sizeof(leaf), "trust-%llu", (unsigned long long)v);
		CL_GUARD_OUT(err, fwg_path(h, d->addr, leaf, path, sizeof(path)));
		CL_GUARD_OUT(err, cl_file_read(path, doc.max, &doc));
		fw_status s = fw_trust_apply(&d->trust, scratch, doc.data, doc.len, &h->ops);
		if (s != FW_OK) {
			err = cl_errorf(CL_EPROTO, "%s: stored trust root v%llu refused: %s", d->addr,
					(unsigned long long)v, fw_status_name(s));
			goto out;
		}
	}
	d->trust_ok = true;
out:
	free(scratch);
	cl_buf_free(&doc);
	return err;
}

static cl_err boot_id(char out[BOOT_ID_LEN + 1])
{
	cl_buf b;
	cl_buf_init(&b, 64);
	cl_err err = cl_file_read("/proc/sys/kernel/random/boot_id", 64, &b);
	if (err == CL_OK && b.len >= BOOT_ID_LEN) {
		memcpy(out, b.data, BOOT_ID_LEN);
		out[BOOT_ID_LEN] = '\0';
	} else {
		snprintf(out, BOOT_ID_LEN + 1, "%036d", 0);
	}
	cl_buf_free(&b);
	return CL_OK;
}

cl_err fwg_power_write(fwg_host *h, uint64_t power_on_ns, uint64_t power_cycle)
{
	char path[PATH_MAX], id[BOOT_ID_LEN + 1];
	cl_buf b;
	cl_err err = CL_OK;
	CL_GUARD(fwg_path(h, NULL, "power", path, sizeof(path)));
	CL_GUARD(boot_id(id));
	cl_buf_init(&b, 128);
	CL_GUARD_OUT(err, cl_buf_put(&b, POWER_MAGIC, 8));
	CL_GUARD_OUT(err, cl_buf_put(&b, id, BOOT_ID_LEN));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, power_on_ns));
	CL_GUARD_OUT(err, cl_buf_put_be64(&b, power_cycle));
	CL_GUARD_OUT(err, seal_write(path, &b, 0600));
	h->power_on_ns = power_on_ns;
	h->power_cycle = power_cycle;
out:
	cl_buf_free(&b);
	return err;
}

cl_err fwg_power_read(fwg_host *h, uint64_t *power_on_ns, bool *rebooted, uint64_t *power_cycle)
{
	char path[PATH_MAX], id[BOOT_ID_LEN + 1], stored[BOOT_ID_LEN];
	cl_buf b;
	cl_err err;
	CL_GUARD(fwg_path(h, NULL, "power", path, sizeof(path)));
	CL_GUARD(boot_id(id));
	cl_buf_init(&b, 128);
	*rebooted = true;
	*power_on_ns = 0;
	*power_cycle = 0;
	err = seal_read(path, POWER_MAGIC, 128, &b);
	bool v1 = false;
	if (err == CL_EPROTO) { /* a host powered on by a build before the counter */
		cl_buf_reset(&b);
		v1 = seal_read(path, POWER_MAGIC_V1, 128, &b) == CL_OK;
		if (v1)
			err = CL_OK;
	}
	if (err == CL_ENOTFOUND) {
		err = CL_OK;
		goto out;
	}
	CL_GUARD_OUT(err, err);
	CL_GUARD_OUT(err, cl_buf_get(&b, stored, BOOT_ID_LEN));
	CL_GUARD_OUT(err, cl_buf_get_be64(&b, power_on_ns));
	if (!v1)
		CL_GUARD_OUT(err, cl_buf_get_be64(&b, power_cycle));
	if (cl_buf_remaining(&b) != 0 || *power_cycle > FW_UINT_MAX) {
		err = cl_errorf(CL_EPROTO, "%s: bad values", path);
		goto out;
	}
	*rebooted = memcmp(stored, id, BOOT_ID_LEN) != 0;
	if (*rebooted)
		*power_on_ns = 0; /* a real power-on: the window runs from the kernel's boot */
out:
	cl_buf_free(&b);
	return err;
}

size_t fwg_pending_count(fwg_host *h, const char *addr)
{
	char dir[PATH_MAX];
	size_t n = 0;
	if (snprintf(dir, sizeof(dir), "%s/pending/%s", h->dir, addr) >= (int)sizeof(dir))
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > 3 && strcmp(e->d_name + l - 3, ".fw") == 0)
			n++;
	}
	closedir(d);
	return n;
}
