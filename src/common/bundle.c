/* bundle.c — the bundle's tar subset and frame payloads (bundle.h). libc only. */
#include "common/bundle.h"

#include <stdio.h>
#include <string.h>

#define BLOCK 512u
#define WRAP_OVERHEAD 125u /* wrap.h's CL_WRAP_OVERHEAD: E (97) + iv (12) + tag (16) */

void cl_tar_init(cl_tar *t, const uint8_t *p, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->p = p;
	t->len = len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* An octal field: digits, then NULs or spaces. false if anything else or
 * no digit or the value does not fit 63 bits. */
static bool octal(const uint8_t *f, size_t n, uint64_t *out)
{
	size_t i = 0;
	uint64_t v = 0;
	bool digit = false;
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return false;
		v = v << 3 | (uint64_t)(f[i] - '0');
		digit = true;
	}
	for (; i < n; i++)
		if (f[i] != '\0' && f[i] != ' ')
			return false;
	*out = v;
	return digit;
}

/* A NUL-terminated copy of a fixed field (at most n bytes, no NUL needed). */
static size_t field(const uint8_t *f, size_t n, char *out)
{
	size_t len = 0;
	while (len < n && f[len])
		len++;
	memcpy(out, f, len);
	out[len] = '\0';
	return len;
}

static cl_err refuse(char why[CL_BUNDLE_WHY_MAX], const char *path, const char *what)
{
	char shown[48];
	size_t i = 0;
	for (; path[i] && i + 1 < sizeof(shown); i++) /* printable only: it ends up in a job's error */
		shown[i] = (path[i] > 0x20 && path[i] < 0x7f) ? path[i] : '?';
	shown[i] = '\0';
	snprintf(why, CL_BUNDLE_WHY_MAX, "%s: %s", shown[0] ? shown : "(entry)", what);
	return CL_EINVAL;
}

/* Normalises raw into out: drops leading "./" and one trailing '/';
 * refuses absolute paths, empty, "." and ".." components, control bytes. */
static cl_err clean_path(const char *raw, char *out, char why[CL_BUNDLE_WHY_MAX])
{
	const char *p = raw;
	if (p[0] == '/')
		return refuse(why, raw, "absolute path");
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	size_t n = strlen(p);
	if (n && p[n - 1] == '/')
		n--;
	if (n == 0 || (n == 1 && p[0] == '.')) {
		out[0] = '\0'; /* the root itself */
		return CL_OK;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			return refuse(why, raw, "control character in the path");
	for (const char *c = out; *c;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0)
			return refuse(why, raw, "empty path component");
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return refuse(why, raw, "path component . or .. (the entry would leave the bundle)");
		c += len + (end ? 1 : 0);
	}
	return CL_OK;
}

cl_err cl_tar_next(cl_tar *t, cl_tar_entry *e, bool *got, char why[CL_BUNDLE_WHY_MAX])
{
	*got = false;
	why[0] = '\0';
	for (;;) {
		if (t->done)
			return CL_OK;
		if (t->len - t->off < BLOCK)
			return refuse(why, "(end)", "truncated: no end-of-archive marker");
		const uint8_t *h = t->p + t->off;
		if (all_zero(h, BLOCK)) {
			/* the end: two zero blocks, or one at the very end */
			if (t->len - t->off >= 2 * BLOCK && !all_zero(h + BLOCK, BLOCK))
				return refuse(why, "(end)", "data after a zero block");
			t->done = true;
			return CL_OK;
		}
		char name[101], prefix[156], raw[CL_BUNDLE_PATH_MAX + 2];
		field(h, 100, name);
		size_t plen = 0;
		bool ustar = memcmp(h + 257, "ustar\0" "00", 8) == 0 || memcmp(h + 257, "ustar  \0", 8) == 0;
		if (!ustar)
			return refuse(why, name, "not a ustar header");
		if (memcmp(h + 257, "ustar\0", 6) == 0)
			plen = field(h + 345, 155, prefix);
		if (plen + 1 + strlen(name) > CL_BUNDLE_PATH_MAX)
			return refuse(why, name, "path too long");
		snprintf(raw, sizeof(raw), "%s%s%s", plen ? prefix : "", plen ? "/" : "", name);
		uint64_t sum = 0, want, size, mode;
		for (size_t i = 0; i < BLOCK; i++)
			sum += (i >= 148 && i < 156) ? (uint64_t)' ' : h[i];
		if (!octal(h + 148, 8, &want) || want != sum)
			return refuse(why, raw, "bad header checksum");
		if (!octal(h + 124, 12, &size) || !octal(h + 100, 8, &mode))
			return refuse(why, raw, "bad size or mode field");
		uint8_t type = h[156];
		if (type != '0' && type != '\0' && type != '5') {
			const char *what = type == '1' ? "hard link (only files and directories)"
					 : type == '2' ? "symbolic link (only files and directories)"
					 : (type == '3' || type == '4') ? "device (only files and directories)"
					 : type == '6' ? "fifo (only files and directories)"
							: "entry type not supported (only files and directories)";
			return refuse(why, raw, what);
		}
		if (type == '5' && size != 0)
			return refuse(why, raw, "directory with a size");
		uint64_t room = t->len - t->off - BLOCK;
		if (size > room || size > CL_BUNDLE_MAX)
			return refuse(why, raw, "size past the end of the archive");
		uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
		if (padded > room)
			return refuse(why, raw, "size past the end of the archive");
		char clean[CL_BUNDLE_PATH_MAX + 1];
		if (clean_path(raw, clean, why) != CL_OK)
			return CL_EINVAL;
		if (clean[0] == '\0' && type != '5')
			return refuse(why, raw, "a file without a name");
		t->off += BLOCK + (size_t)padded;
		if (clean[0] == '\0')
			continue; /* "." or "./": the bundle's root */
		if (++t->n > CL_BUNDLE_ENTRIES_MAX)
			return refuse(why, clean, "too many entries (at most 1024)");
		memcpy(e->path, clean, strlen(clean) + 1);
		e->type = type == '5' ? CL_TAR_DIR : CL_TAR_FILE;
		e->mode = (uint32_t)mode & 0755u;
		e->size = size;
		e->data = h + BLOCK;
		*got = true;
		return CL_OK;
	}
}

/* Writes v as n - 1 octal digits and a NUL into f; false if it does not fit. */
static bool put_octal(uint8_t *f, size_t n, uint64_t v)
{
	f[n - 1] = '\0';
	for (size_t i = n - 1; i-- > 0;) {
		f[i] = (uint8_t)('0' + (v & 7));
		v >>= 3;
	}
	return v == 0;
}

cl_err cl_tar_header_put(uint8_t out[CL_TAR_BLOCK], const char *path, int type, uint32_t mode, uint64_t size,
			 char why[CL_BUNDLE_WHY_MAX])
{
	char clean[CL_BUNDLE_PATH_MAX + 1];
	size_t n = strlen(path);
	why[0] = '\0';
	memset(out, 0, CL_TAR_BLOCK);
	if (n == 0 || n > CL_BUNDLE_PATH_MAX)
		return refuse(why, path, "path empty or too long");
	if (clean_path(path, clean, why) != CL_OK)
		return CL_EINVAL;
	if (strcmp(clean, path) != 0)
		return refuse(why, path, "path not in its clean form");
	if (type != CL_TAR_FILE && type != CL_TAR_DIR)
		return refuse(why, path, "only files and directories");
	if ((type == CL_TAR_DIR && size) || size > CL_BUNDLE_MAX)
		return refuse(why, path, "size too large (or a directory with a size)");
	/* name is the whole path, or what follows the first '/' that leaves
	 * at most 100 bytes of name and 155 of prefix */
	size_t split = 0;
	if (n > 100) {
		for (size_t i = 0; i < n && !split; i++)
			if (path[i] == '/' && n - i - 1 <= 100 && n - i - 1 > 0)
				split = i;
		if (!split || split > 155)
			return refuse(why, path, "path cannot be split into ustar's prefix (155) and name (100)");
		memcpy(out + 345, path, split);
		memcpy(out, path + split + 1, n - split - 1);
	} else {
		memcpy(out, path, n);
	}
	if (!put_octal(out + 100, 8, mode & 0755u) || !put_octal(out + 108, 8, 0) || !put_octal(out + 116, 8, 0) ||
	    !put_octal(out + 124, 12, size) || !put_octal(out + 136, 12, 0))
		return refuse(why, path, "a field does not fit");
	out[156] = type == CL_TAR_DIR ? '5' : '0';
	memcpy(out + 257, "ustar\0" "00", 8);
	uint64_t sum = 0;
	for (size_t i = 0; i < CL_TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? (uint64_t)' ' : out[i];
	(void)put_octal(out + 148, 7, sum); /* 6 digits, NUL, then a space */
	out[155] = ' ';
	return CL_OK;
}

size_t cl_tar_pad(uint64_t size)
{
	return (size_t)((BLOCK - size % BLOCK) % BLOCK);
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

cl_err cl_bundle_end_parse(const uint8_t *p, size_t n, uint8_t sha384[48], uint64_t *length)
{
	if (n != CL_BUNDLE_END_LEN)
		return CL_EINVAL;
	uint64_t len = get_be64(p + 48);
	if (len <= WRAP_OVERHEAD || len > CL_BUNDLE_MAX + WRAP_OVERHEAD)
		return CL_EINVAL;
	memcpy(sha384, p, 48);
	*length = len;
	return CL_OK;
}

void cl_bundle_end_put(uint8_t out[CL_BUNDLE_END_LEN], const uint8_t sha384[48], uint64_t length)
{
	memcpy(out, sha384, 48);
	for (int i = 0; i < 8; i++)
		out[48 + i] = (uint8_t)(length >> (56 - 8 * i));
}

cl_err cl_bundle_extend_parse(const uint8_t *p, size_t n, uint8_t *reg, uint8_t sha384[48])
{
	if (n != CL_BUNDLE_EXTEND_LEN || p[0] != CL_BUNDLE_REGISTER)
		return CL_EINVAL;
	*reg = p[0];
	memcpy(sha384, p + 1, 48);
	return CL_OK;
}
