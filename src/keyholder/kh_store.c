/* kh_store.c — the key holder's keys: slots in secret memory, files under
 * the key directory.
 *
 * Layout (every path relative to the directory's descriptor):
 *     attest.key   dev/<addr>.key   (0600 PKCS#8 PEM)
 * tls/ keys are memory-only: never written here; a file found under tls/ at
 * start (an earlier build's, or planted) is refused and deleted.
 * A new key file is written to a dot-named temporary, fsynced, then
 * link()ed to its name — which fails if the name exists, so a key is never
 * overwritten, not even one that failed to load — and the directory is
 * fsynced: a kill at any moment leaves the old state or the new one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "keyholder/kh_internal.h"

#define SECURE_HEAP (64 * 1024)
#define KEY_SUFFIX ".key"

static const struct {
	const char *prefix; /* "attest" is a whole name; the others take <name> */
	bool has_name;
	enum cl_kh_purpose purpose;
} kinds[] = {
	{"attest", false, CL_KH_PURPOSE_SIGN_DOCUMENT},
	{"seal", false, CL_KH_PURPOSE_SEAL},
	{"dev/", true, CL_KH_PURPOSE_ECDH},
	{"tls/", true, CL_KH_PURPOSE_SIGN_HANDSHAKE},
};

static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len < 1 || len > CL_KH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-')))
			return false;
	}
	return true;
}

cl_err kh_slot_purpose(const char *slot, enum cl_kh_purpose *purpose)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t pl = strlen(kinds[i].prefix);
		if (kinds[i].has_name ? strncmp(slot, kinds[i].prefix, pl) == 0 && name_ok(slot + pl)
				      : strcmp(slot, kinds[i].prefix) == 0) {
			*purpose = kinds[i].purpose;
			return CL_OK;
		}
	}
	return cl_errorf(CL_EINVAL, "invalid slot name");
}

bool kh_memory_only(enum cl_kh_purpose purpose)
{
	return purpose == CL_KH_PURPOSE_SIGN_HANDSHAKE;
}

kh_slot *kh_find(cl_kh *kh, const char *slot)
{
	for (size_t i = 0; i < CL_KH_MAX_SLOTS; i++)
		if (kh->slots[i].used && strcmp(kh->slots[i].name, slot) == 0)
			return &kh->slots[i];
	return NULL;
}

static kh_slot *free_slot(cl_kh *kh)
{
	for (size_t i = 0; i < CL_KH_MAX_SLOTS; i++)
		if (!kh->slots[i].used)
			return &kh->slots[i];
	return NULL;
}

static void wipe_slot(cl_kh *kh, kh_slot *s)
{
	uint8_t *scalar = s->scalar;
	if (s->used)
		kh->count--;
	explicit_bzero(scalar, CL_KH_SCALAR_LEN);
	memset(s, 0, sizeof(*s));
	s->scalar = scalar;
}

/* "dev/x" -> "dev/x.key"; tmp: "dev/.x.tmp". */
static cl_err file_names(const char *slot, char file[CL_KH_SLOT_MAX + 8], char tmp[CL_KH_SLOT_MAX + 8])
{
	const char *slash = strchr(slot, '/');
	int n = snprintf(file, CL_KH_SLOT_MAX + 8, "%s" KEY_SUFFIX, slot);
	int m = slash ? snprintf(tmp, CL_KH_SLOT_MAX + 8, "%.*s.%s.tmp", (int)(slash - slot + 1), slot, slash + 1)
		      : snprintf(tmp, CL_KH_SLOT_MAX + 8, ".%s.tmp", slot);
	CL_ENSURE(n > 0 && n < CL_KH_SLOT_MAX + 8 && m > 0 && m < CL_KH_SLOT_MAX + 8, CL_EINTERNAL,
		  "slot name too long");
	return CL_OK;
}

static cl_err fsync_dir(cl_kh *kh, const char *slot)
{
	const char *slash = strchr(slot, '/');
	char dir[8] = ".";
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - slot), slot);
	int fd = openat(kh->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CL_ENSURE(fd >= 0, CL_EIO, "key directory: %s", strerror(errno));
	int r = fsync(fd);
	close(fd);
	CL_ENSURE(r == 0, CL_EIO, "key directory: fsync: %s", strerror(errno));
	return CL_OK;
}

/* Writes data to slot's file; CL_ECONFLICT if the file exists. */
static cl_err write_new(cl_kh *kh, const char *slot, const uint8_t *data, size_t n)
{
	char file[CL_KH_SLOT_MAX + 8], tmp[CL_KH_SLOT_MAX + 8];
	cl_err err = CL_OK;
	CL_GUARD(file_names(slot, file, tmp));
	unlinkat(kh->dirfd, tmp, 0); /* left by a writer killed mid-way */
	int fd = openat(kh->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	CL_ENSURE(fd >= 0, CL_EIO, "create key file: %s", strerror(errno));
	for (size_t off = 0; off < n && err == CL_OK;) {
		ssize_t w = write(fd, data + off, n - off);
		if (w < 0 && errno != EINTR)
			err = cl_errorf(errno == ENOSPC ? CL_ENOSPACE : CL_EIO, "write key file: %s", strerror(errno));
		off += w > 0 ? (size_t)w : 0;
	}
	if (err == CL_OK && fsync(fd) != 0)
		err = cl_errorf(CL_EIO, "fsync key file: %s", strerror(errno));
	if (close(fd) != 0 && err == CL_OK)
		err = cl_errorf(CL_EIO, "close key file: %s", strerror(errno));
	if (err == CL_OK && linkat(kh->dirfd, tmp, kh->dirfd, file, 0) != 0)
		err = errno == EEXIST ? cl_errorf(CL_ECONFLICT, "a key file for %s exists", slot)
				      : cl_errorf(CL_EIO, "link key file: %s", strerror(errno));
	unlinkat(kh->dirfd, tmp, 0);
	if (err == CL_OK)
		err = fsync_dir(kh, slot);
	return err;
}

cl_err kh_create(cl_kh *kh, const char *slot, enum cl_kh_purpose purpose, enum cl_kh_curve curve, kh_slot **out)
{
	kh_slot *s = free_slot(kh);
	size_t pem_len = 0;
	bool persist = !(kh->flags & CL_KH_OPEN_NO_PERSIST) && !kh_memory_only(purpose);
	cl_err err;
	CL_ENSURE(kh_find(kh, slot) == NULL, CL_ECONFLICT, "%s exists", slot);
	CL_ENSURE(s != NULL, CL_ENOSPACE, "the key holder is full (%d keys)", CL_KH_MAX_SLOTS);
	/* a memory-only key is never encoded: no PEM of it exists anywhere */
	CL_GUARD_OUT(err, kh_crypto_generate(curve, s->scalar, s->point, persist ? kh->scratch : NULL,
					     KH_SCRATCH_LEN, &pem_len));
	if (persist)
		CL_GUARD_OUT(err, write_new(kh, slot, kh->scratch, pem_len));
	snprintf(s->name, sizeof(s->name), "%s", slot);
	s->purpose = purpose;
	s->curve = curve;
	s->used = true;
	kh->count++;
	*out = s;
out:
	explicit_bzero(kh->scratch, KH_SCRATCH_LEN);
	if (err != CL_OK)
		wipe_slot(kh, s);
	return err;
}

cl_err kh_remove(cl_kh *kh, kh_slot *s)
{
	char file[CL_KH_SLOT_MAX + 8], tmp[CL_KH_SLOT_MAX + 8];
	if (!(kh->flags & CL_KH_OPEN_NO_PERSIST) && !kh_memory_only(s->purpose)) {
		CL_GUARD(file_names(s->name, file, tmp));
		CL_ENSURE(unlinkat(kh->dirfd, file, 0) == 0 || errno == ENOENT, CL_EIO, "remove key file: %s",
			  strerror(errno));
		CL_GUARD(fsync_dir(kh, s->name));
	}
	wipe_slot(kh, s);
	return CL_OK;
}

/* Loads one key file (name relative to dirfd) into a free slot. */
static cl_err load_file(cl_kh *kh, const char *slot, const char *file)
{
	struct stat st;
	kh_slot *s = free_slot(kh);
	enum cl_kh_purpose purpose;
	size_t n = 0;
	cl_err err = CL_OK;
	CL_GUARD(kh_slot_purpose(slot, &purpose));
	CL_ENSURE(s != NULL, CL_ENOSPACE, "more than %d key files", CL_KH_MAX_SLOTS);
	int fd = openat(kh->dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	CL_ENSURE(fd >= 0, CL_EIO, "open: %s", strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid() ||
	    st.st_size >= KH_SCRATCH_LEN) {
		err = cl_errorf(CL_EPERM, "not a regular 0600 file of ours under %d bytes", KH_SCRATCH_LEN);
		goto out;
	}
	while (err == CL_OK && n < (size_t)st.st_size) {
		ssize_t r = read(fd, kh->scratch + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			err = cl_errorf(CL_EIO, "read: %s", r < 0 ? strerror(errno) : "short file");
		n += r > 0 ? (size_t)r : 0;
	}
	if (err != CL_OK)
		goto out;
	CL_GUARD_OUT(err, kh_crypto_load_pem(kh->scratch, n, s->scalar, s->point));
	snprintf(s->name, sizeof(s->name), "%s", slot);
	s->purpose = purpose;
	s->curve = CL_KH_CURVE_P384;
	s->used = true;
	kh->count++;
out:
	close(fd);
	explicit_bzero(kh->scratch, KH_SCRATCH_LEN);
	if (err != CL_OK)
		explicit_bzero(s->scalar, CL_KH_SCALAR_LEN);
	return err;
}

/* Loads the key files of one directory ("" for the top, "dev/"), and
 * removes temporaries a killed writer left. In "tls/" (memory-only keys)
 * every file is refused and deleted. */
static cl_err load_dir(cl_kh *kh, const char *prefix)
{
	char slot[CL_KH_SLOT_MAX + 1], file[CL_KH_SLOT_MAX + 8];
	int fd = openat(kh->dirfd, *prefix ? prefix : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cl_errorf(CL_EIO, "key directory %s: %s", prefix, strerror(errno));
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), sl = strlen(KEY_SUFFIX);
		if (strcmp(prefix, "tls/") == 0) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			/* never loaded: a tls/ key that was on disk is not one to trust */
			if (unlinkat(dirfd(d), e->d_name, 0) == 0)
				cl_warn("key holder: tls/%.*s refused and deleted: tls/ keys live in memory only",
					(int)(len < 80 ? len : 80), e->d_name);
			else
				cl_warn("key holder: tls/%.*s refused (memory-only keys), cannot delete it: %s",
					(int)(len < 80 ? len : 80), e->d_name, strerror(errno));
			continue;
		}
		if (e->d_name[0] == '.') {
			if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0)
				unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (len <= sl || strcmp(e->d_name + len - sl, KEY_SUFFIX) != 0 ||
		    snprintf(slot, sizeof(slot), "%s%.*s", prefix, (int)(len - sl), e->d_name) >= (int)sizeof(slot))
			continue; /* not a key file (dev/, tls/ themselves included) */
		snprintf(file, sizeof(file), "%s" KEY_SUFFIX, slot);
		enum cl_kh_purpose p;
		if (kh_slot_purpose(slot, &p) != CL_OK)
			continue;
		if (load_file(kh, slot, file) != CL_OK)
			cl_warn("key holder: key file %s skipped: %s", file, cl_error_detail());
	}
	closedir(d);
	return CL_OK;
}

/* The key directory must be ours and closed to everyone else. */
static cl_err open_dir(const char *key_dir, int *out)
{
	struct stat st;
	if (mkdir(key_dir, 0700) != 0 && errno != EEXIST)
		return cl_errorf(CL_EIO, "key directory %s: %s", key_dir, strerror(errno));
	int fd = open(key_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	CL_ENSURE(fd >= 0, CL_EIO, "key directory %s: %s", key_dir, strerror(errno));
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(fd);
		return cl_errorf(CL_EPERM, "key directory %s must be ours with mode 0700", key_dir);
	}
	for (int i = 0; i < 2; i++) {
		const char *sub = i ? "tls" : "dev";
		if (mkdirat(fd, sub, 0700) != 0 && errno != EEXIST) {
			close(fd);
			return cl_errorf(CL_EIO, "key directory %s/%s: %s", key_dir, sub, strerror(errno));
		}
	}
	*out = fd;
	return CL_OK;
}

cl_err cl_kh_open(const char *key_dir, unsigned flags, cl_kh **out)
{
	size_t keys = (size_t)CL_KH_MAX_SLOTS * CL_KH_SCALAR_LEN;
	cl_kh *kh = calloc(1, sizeof(*kh));
	cl_err err;
	*out = NULL;
	CL_ENSURE(kh != NULL, CL_ENOMEM, "out of memory");
	kh->dirfd = -1;
	kh->flags = flags;
	/* OpenSSL's own secure heap carries the scalar during an operation. */
	if (!CRYPTO_secure_malloc_initialized() && CRYPTO_secure_malloc_init(SECURE_HEAP, 32) != 1) {
		err = cl_errorf(CL_ESYS, "cannot set up OpenSSL's locked heap");
		goto out;
	}
	CL_GUARD_OUT(err, cl_secmem_alloc(keys + KH_SCRATCH_LEN,
					  flags & CL_KH_OPEN_NO_SECRETMEM ? CL_SECMEM_NO_SECRETMEM : 0, &kh->arena));
	if (!(kh->slots = calloc(CL_KH_MAX_SLOTS, sizeof(kh_slot)))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < CL_KH_MAX_SLOTS; i++)
		kh->slots[i].scalar = (uint8_t *)kh->arena.ptr + i * CL_KH_SCALAR_LEN;
	kh->scratch = (uint8_t *)kh->arena.ptr + keys;
	CL_GUARD_OUT(err, open_dir(key_dir, &kh->dirfd));
	CL_GUARD_OUT(err, load_dir(kh, ""));
	CL_GUARD_OUT(err, load_dir(kh, "dev/"));
	CL_GUARD_OUT(err, load_dir(kh, "tls/"));
	*out = kh;
	kh = NULL;
out:
	cl_kh_close(kh);
	return err;
}

void cl_kh_close(cl_kh *kh)
{
	if (!kh)
		return;
	cl_secmem_free(&kh->arena); /* wipes every scalar */
	free(kh->slots);
	if (kh->dirfd >= 0)
		close(kh->dirfd);
	free(kh);
}

size_t cl_kh_count(const cl_kh *kh)
{
	return kh->count;
}
