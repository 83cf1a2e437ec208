/* image.c — parsing and validating Cloister image files (docs/image-format.md).
 *
 * The parser trusts nothing in the file. Every length is checked against the
 * real input before it is used, every count is bounded before anything is
 * allocated from it, and the manifest must describe the payload exactly.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"
#include "image/image.h"
#include "image/image_internal.h"

static bool component_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-';
}

cl_err cl_image_check_path(const char *path, const char *what)
{
	size_t len = strlen(path), depth = 0;
	CL_ENSURE(len > 0, CL_EINVAL, "%s is empty", what);
	CL_ENSURE(len <= CL_IMAGE_PATH_MAX, CL_EINVAL, "%s is longer than %u bytes", what, CL_IMAGE_PATH_MAX);
	/* Characters first: the messages below quote the path, which must not
	 * carry control characters (or newlines) into an error line. */
	for (size_t i = 0; i < len; i++)
		CL_ENSURE(path[i] == '/' || component_char_ok((unsigned char)path[i]), CL_EINVAL,
			  "%s has a character outside [A-Za-z0-9._-]", what);
	CL_ENSURE(path[0] != '/', CL_EINVAL, "%s \"%s\" is absolute (image paths are relative)", what, path);
	const char *p = path;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		CL_ENSURE(n > 0, CL_EINVAL, "%s \"%s\" has an empty component", what, path);
		CL_ENSURE(!(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.'), CL_EINVAL,
			  "%s \"%s\": components \".\" and \"..\" are not allowed", what, path);
		CL_ENSURE(++depth <= CL_IMAGE_MAX_DEPTH, CL_EINVAL, "%s \"%s\" is deeper than %u components", what,
			  path, CL_IMAGE_MAX_DEPTH);
		if (!end)
			break;
		p = end + 1;
		CL_ENSURE(*p, CL_EINVAL, "%s \"%s\" ends with '/'", what, path);
	}
	return CL_OK;
}

void cl_image_free(cl_image *img)
{
	if (!img)
		return;
	free(img->name);
	free(img->version);
	free(img->entrypoint);
	if (img->args)
		for (size_t i = 0; i < img->nargs; i++)
			free(img->args[i]);
	free(img->args);
	if (img->files)
		for (size_t i = 0; i < img->nfiles; i++)
			free(img->files[i].path);
	free(img->files);
	free(img);
}

/* Copies s into out (n bytes) with anything but printable ASCII replaced by
 * '?', so untrusted text quoted in an error stays on one line. */
static const char *printable(const char *s, char *out, size_t n)
{
	size_t i = 0;
	for (; s[i] && i + 1 < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

/* Only these keys may appear; anything else is rejected so that a field a
 * newer writer adds is never silently ignored by an older reader. */
static cl_err check_keys(json_t *obj, const char *const *allowed, const char *what)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			ok = ok || strcmp(key, allowed[i]) == 0;
		char shown[65];
		CL_ENSURE(ok, CL_EINVAL, "%s has an unknown field \"%s\"", what, printable(key, shown, sizeof(shown)));
	}
	for (size_t i = 0; allowed[i]; i++)
		CL_ENSURE(json_object_get(obj, allowed[i]), CL_EINVAL, "%s lacks field \"%s\"", what, allowed[i]);
	return CL_OK;
}

/* A JSON string of 1..max bytes without NUL; printable-only if asked. */
static cl_err get_string(json_t *obj, const char *key, size_t max, bool printable, const char **out)
{
	json_t *v = json_object_get(obj, key);
	CL_ENSURE(json_is_string(v), CL_EINVAL, "manifest field \"%s\" must be a string", key);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	CL_ENSURE(n > 0 && n <= max, CL_EINVAL, "manifest field \"%s\" must be 1..%zu bytes", key, max);
	CL_ENSURE(strlen(s) == n, CL_EINVAL, "manifest field \"%s\" contains NUL", key);
	for (size_t i = 0; printable && i < n; i++)
		CL_ENSURE(s[i] >= 0x20 && s[i] < 0x7f, CL_EINVAL,
			  "manifest field \"%s\" must be printable ASCII", key);
	*out = s;
	return CL_OK;
}

static cl_err get_uint(json_t *obj, const char *key, const char *what, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	CL_ENSURE(json_is_integer(v), CL_EINVAL, "%s: \"%s\" must be an integer", what, key);
	json_int_t i = json_integer_value(v);
	CL_ENSURE(i >= 0, CL_EINVAL, "%s: \"%s\" must not be negative", what, key);
	*out = (uint64_t)i;
	return CL_OK;
}

static int cmp_path_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Unique paths, and no file used as another file's parent directory. */
static cl_err check_tree(cl_image *img, char **sorted)
{
	for (size_t i = 0; i < img->nfiles; i++)
		sorted[i] = img->files[i].path;
	qsort(sorted, img->nfiles, sizeof(*sorted), cmp_path_ptr);
	for (size_t i = 1; i < img->nfiles; i++)
		CL_ENSURE(strcmp(sorted[i - 1], sorted[i]) != 0, CL_EINVAL, "duplicate file path \"%s\"",
			  sorted[i]);
	char prefix[CL_IMAGE_PATH_MAX + 1];
	for (size_t i = 0; i < img->nfiles; i++) {
		const char *p = sorted[i];
		for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			size_t n = (size_t)(s - p);
			memcpy(prefix, p, n);
			prefix[n] = '\0';
			char *key = prefix;
			CL_ENSURE(!bsearch(&key, sorted, img->nfiles, sizeof(*sorted), cmp_path_ptr), CL_EINVAL,
				  "file \"%s\" is also the parent directory of \"%s\"", prefix, p);
		}
	}
	return CL_OK;
}

static cl_err check_entrypoint(const cl_image *img, char **sorted)
{
	const char *ep = img->entrypoint;
	CL_ENSURE(ep[0] == '/', CL_EINVAL, "entrypoint must be an absolute path");
	CL_GUARD(cl_image_check_path(ep + 1, "entrypoint"));
	const char *key = ep + 1;
	char **hit = bsearch(&key, sorted, img->nfiles, sizeof(*sorted), cmp_path_ptr);
	CL_ENSURE(hit, CL_EINVAL, "entrypoint %s is not a file in the image", ep);
	for (size_t i = 0; i < img->nfiles; i++)
		if (img->files[i].path == *hit)
			CL_ENSURE(img->files[i].mode & 0111, CL_EINVAL, "entrypoint %s is not executable", ep);
	return CL_OK;
}

/* The sandbox creates /init, /init-bundle (an enclave awaiting a bundle),
 * /proc, /dev and /tmp in the enclave's root, so an image may not claim
 * those names: refuse at build/upload time, not at launch. */
static cl_err check_reserved(const char *path)
{
	static const char *const reserved[] = {"init", "init-bundle", "proc", "dev", "tmp", NULL};
	size_t n = strcspn(path, "/");
	for (const char *const *r = reserved; *r; r++)
		if (strlen(*r) == n && strncmp(path, *r, n) == 0)
			return cl_errorf(CL_EINVAL, "file path \"%s\": /%s is reserved for the sandbox", path, *r);
	return CL_OK;
}

static cl_err load_file(json_t *f, size_t idx, uint64_t *sum, uint64_t payload_off, cl_image_file *out)
{
	static const char *const keys[] = {"path", "mode", "size", "sha384", NULL};
	char what[48];
	snprintf(what, sizeof(what), "manifest file #%zu", idx);
	CL_ENSURE(json_is_object(f), CL_EINVAL, "%s is not an object", what);
	CL_GUARD(check_keys(f, keys, what));
	const char *path, *hex;
	uint64_t mode, size;
	CL_GUARD(get_string(f, "path", CL_IMAGE_PATH_MAX, false, &path));
	CL_GUARD(cl_image_check_path(path, "file path"));
	CL_GUARD(check_reserved(path));
	CL_GUARD(get_uint(f, "mode", what, &mode));
	CL_ENSURE((mode & ~(uint64_t)0777) == 0, CL_EINVAL, "file \"%s\": mode %#llo has bits outside 0777",
		  path, (unsigned long long)mode);
	CL_GUARD(get_uint(f, "size", what, &size));
	CL_GUARD(get_string(f, "sha384", 2 * CL_SHA384_LEN, false, &hex));
	for (const char *c = hex; *c; c++)
		CL_ENSURE((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'), CL_EINVAL,
			  "file \"%s\": sha384 must be lower-case hex", path);
	CL_ENSURE(strlen(hex) == 2 * CL_SHA384_LEN, CL_EINVAL, "file \"%s\": sha384 must be 96 hex digits", path);
	CL_GUARD(cl_hex_decode(hex, out->sha384, CL_SHA384_LEN));
	/* Sizes are summed with an overflow check: a wrapped sum could otherwise
	 * match the payload length while the files point far outside it. */
	uint64_t next;
	CL_ENSURE(!__builtin_add_overflow(*sum, size, &next), CL_EINVAL, "file sizes overflow");
	out->offset = payload_off + *sum;
	out->size = size;
	out->mode = (uint32_t)mode;
	out->path = strdup(path);
	CL_ENSURE(out->path, CL_ENOMEM, "out of memory");
	*sum = next;
	return CL_OK;
}

static cl_err load_args(json_t *root, cl_image *img)
{
	json_t *args = json_object_get(root, "args");
	CL_ENSURE(json_is_array(args), CL_EINVAL, "manifest field \"args\" must be an array");
	size_t n = json_array_size(args); /* elements jansson really parsed */
	CL_ENSURE(n <= CL_IMAGE_MAX_ARGS, CL_ETOOBIG, "manifest has more than %u args", CL_IMAGE_MAX_ARGS);
	img->args = calloc(n + 1, sizeof(*img->args));
	CL_ENSURE(img->args, CL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(args, i);
		CL_ENSURE(json_is_string(a), CL_EINVAL, "manifest arg #%zu must be a string", i);
		size_t len = json_string_length(a);
		CL_ENSURE(len <= CL_IMAGE_ARG_MAX && strlen(json_string_value(a)) == len, CL_EINVAL,
			  "manifest arg #%zu is longer than %u bytes or contains NUL", i, CL_IMAGE_ARG_MAX);
		img->args[i] = strdup(json_string_value(a));
		CL_ENSURE(img->args[i], CL_ENOMEM, "out of memory");
		img->nargs = i + 1;
	}
	return CL_OK;
}

static cl_err load_manifest(json_t *root, uint64_t payload_off, uint64_t payload_len, bool trailer_ok,
			    cl_image *img)
{
	static const char *const keys[] = {"format", "name", "version", "entrypoint", "args", "files", NULL};
	CL_ENSURE(json_is_object(root), CL_EINVAL, "manifest is not a JSON object");
	CL_GUARD(check_keys(root, keys, "manifest"));
	json_t *fmt = json_object_get(root, "format");
	CL_ENSURE(json_is_integer(fmt) && json_integer_value(fmt) == 1, CL_EINVAL,
		  "manifest format must be 1");
	const char *name, *version, *ep;
	CL_GUARD(get_string(root, "name", CL_IMAGE_NAME_MAX, true, &name));
	CL_GUARD(get_string(root, "version", CL_IMAGE_NAME_MAX, true, &version));
	CL_GUARD(get_string(root, "entrypoint", CL_IMAGE_PATH_MAX + 1, false, &ep));
	img->name = strdup(name);
	img->version = strdup(version);
	img->entrypoint = strdup(ep);
	CL_ENSURE(img->name && img->version && img->entrypoint, CL_ENOMEM, "out of memory");
	CL_GUARD(load_args(root, img));

	json_t *files = json_object_get(root, "files");
	CL_ENSURE(json_is_array(files), CL_EINVAL, "manifest field \"files\" must be an array");
	size_t n = json_array_size(files);
	CL_ENSURE(n > 0, CL_EINVAL, "manifest lists no files");
	CL_ENSURE(n <= CL_IMAGE_MAX_FILES, CL_ETOOBIG, "manifest lists more than %u files", CL_IMAGE_MAX_FILES);
	img->files = calloc(n, sizeof(*img->files));
	CL_ENSURE(img->files, CL_ENOMEM, "out of memory");
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		CL_GUARD(load_file(json_array_get(files, i), i, &sum, payload_off, &img->files[i]));
		img->nfiles = i + 1;
	}
	/* Bytes after the files can only be a signature section, which the
	 * caller checks (cl_image_check_section). */
	CL_ENSURE(sum == payload_len || (trailer_ok && sum < payload_len), CL_EINVAL,
		  "file sizes add up to %llu bytes but the image holds %llu after the manifest",
		  (unsigned long long)sum, (unsigned long long)payload_len);
	img->body_len = payload_off + sum;

	char **sorted = calloc(n, sizeof(*sorted));
	CL_ENSURE(sorted, CL_ENOMEM, "out of memory");
	cl_err err = check_tree(img, sorted);
	if (err == CL_OK)
		err = check_entrypoint(img, sorted);
	free(sorted);
	return err;
}

cl_err cl_image_manifest_load(const char *json, size_t len, uint64_t payload_off, uint64_t payload_len,
			      bool trailer_ok, cl_image **out)
{
	json_error_t jerr;
	/* Duplicate keys are rejected: two readers must never disagree on which
	 * value counts. jansson also rejects \u0000 in strings by default. */
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char shown[sizeof(jerr.text)];
		return cl_errorf(CL_EINVAL, "manifest is not valid JSON: %s at byte %d",
				 printable(jerr.text, shown, sizeof(shown)), jerr.position);
	}
	cl_image *img = calloc(1, sizeof(*img));
	if (!img) {
		json_decref(root);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	cl_err err = load_manifest(root, payload_off, payload_len, trailer_ok, img);
	json_decref(root);
	if (err != CL_OK) {
		cl_image_free(img);
		return err;
	}
	*out = img;
	return CL_OK;
}

cl_err cl_image_parse(const uint8_t *data, size_t len, cl_image **out)
{
	CL_ENSURE(data || len == 0, CL_EINVAL, "no image data");
	CL_ENSURE(len >= CL_IMAGE_HEADER_LEN, CL_EINVAL, "image is truncated: %zu bytes, the header alone is %u",
		  len, CL_IMAGE_HEADER_LEN);
	CL_ENSURE(len <= CL_IMAGE_MAX_SIZE, CL_ETOOBIG, "image is larger than %llu bytes",
		  (unsigned long long)CL_IMAGE_MAX_SIZE);
	CL_ENSURE(memcmp(data, CL_IMAGE_MAGIC, 8) == 0, CL_EINVAL, "bad magic: not a Cloister image");
	uint32_t mlen = (uint32_t)data[8] << 24 | (uint32_t)data[9] << 16 | (uint32_t)data[10] << 8 | data[11];
	CL_ENSURE(mlen <= CL_IMAGE_MANIFEST_MAX, CL_ETOOBIG, "manifest length %u exceeds the limit of %u",
		  mlen, CL_IMAGE_MANIFEST_MAX);
	CL_ENSURE(mlen > 0, CL_EINVAL, "manifest is empty");
	CL_ENSURE(mlen <= len - CL_IMAGE_HEADER_LEN, CL_EINVAL,
		  "image is truncated: manifest declares %u bytes, %zu remain", mlen, len - CL_IMAGE_HEADER_LEN);
	uint64_t off = CL_IMAGE_HEADER_LEN + (uint64_t)mlen;

	cl_image *img = NULL;
	CL_GUARD(cl_image_manifest_load((const char *)data + CL_IMAGE_HEADER_LEN, mlen, off, len - off, true, &img));
	cl_err err = CL_OK;
	uint8_t body_hash[CL_SHA384_LEN];
	for (size_t i = 0; i < img->nfiles; i++) {
		uint8_t d[CL_SHA384_LEN];
		const cl_image_file *f = &img->files[i];
		CL_GUARD_OUT(err, cl_sha384(data + f->offset, f->size, d));
		if (memcmp(d, f->sha384, sizeof(d)) != 0) {
			err = cl_errorf(CL_ECRYPTO,
					"image is corrupt: the bytes of file \"%s\" do not match its SHA-384 in the "
					"manifest",
					f->path);
			goto out;
		}
	}
	/* One pass gives both the signed bytes' hash and the content address. */
	CL_GUARD_OUT(err, cl_image_hash_two(data, img->body_len, len, body_hash, img->digest));
	if (img->body_len < len)
		CL_GUARD_OUT(err, cl_image_check_section(data, len, body_hash, img));
	*out = img;
	img = NULL;
out:
	cl_image_free(img);
	return err;
}
