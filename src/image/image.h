/* image.h — Cloister enclave image files: build, parse, extract.
 *
 * Format (docs/image-format.md): magic "CLIMAGE1", u32 BE manifest length
 * (<= CL_IMAGE_MANIFEST_MAX), the manifest as JSON, then each file's bytes in
 * manifest order, then optionally a signature section: magic "CLIMGSIG", u32
 * BE certificate length, the signer's X.509 certificate (DER), and a 96-byte
 * ECDSA P-384 signature (r || s) over SHA-384 of everything before the
 * section. The parser trusts nothing: paths are relative, made of
 * [A-Za-z0-9._-] components (no "." or ".."), unique; sizes must add up to the
 * payload exactly, and what follows it must be one well-formed signature
 * section that verifies under the certificate's key; every file's SHA-384 is
 * checked.
 */
#ifndef CL_IMAGE_H
#define CL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define CL_IMAGE_MAGIC "CLIMAGE1"
#define CL_IMAGE_MANIFEST_MAX (256u * 1024)
#define CL_IMAGE_MAX_SIZE (256ull * 1024 * 1024)
#define CL_IMAGE_MAX_FILES 4096

#define CL_IMAGE_SIG_MAGIC "CLIMGSIG"  /* starts the signature section */
#define CL_IMAGE_SIG_HEADER_LEN 12u     /* magic (8) + u32 BE certificate length */
#define CL_IMAGE_CERT_MAX 16384u        /* bytes of the signer's certificate (DER) */
#define CL_IMAGE_SIG_LEN 96u            /* ECDSA P-384 r || s, 48 bytes each */

typedef struct cl_image_file {
	char *path;          /* relative, e.g. "app/kvstore" */
	uint32_t mode;       /* permission bits only (0777 mask) */
	uint64_t size;
	uint64_t offset;     /* of the file's bytes within the image */
	uint8_t sha384[48];
} cl_image_file;

typedef struct cl_image {
	char *name;
	char *version;
	char *entrypoint;    /* absolute path inside the enclave, e.g. "/app/kvstore" */
	char **args;         /* argv[1..], NULL-terminated */
	size_t nargs;
	cl_image_file *files;
	size_t nfiles;
	/* SHA-384 of the whole image file, signature section included: the
	 * image's content address (the control plane's "sha384"). It is not
	 * PCR0: PCR0 is a register (image/measure.h). */
	uint8_t digest[48];
	/* Bytes [0, body_len) are the image without its signature section: the
	 * whole file when it is unsigned. */
	uint64_t body_len;
	/* A signed image's certificate (DER) is at data[signer_cert ..
	 * signer_cert + signer_cert_len); both 0 when the image is unsigned. */
	uint64_t signer_cert;
	size_t signer_cert_len;
} cl_image;

/* One file to pack: read from src, stored at dest inside the image. */
typedef struct cl_image_input {
	const char *src;
	const char *dest;
} cl_image_input;

typedef struct cl_image_spec {
	const char *name;
	const char *version;
	const char *entrypoint;
	const char *const *args; /* NULL-terminated, may be NULL */
	const cl_image_input *inputs;
	size_t ninputs;
} cl_image_spec;

/* Parses and fully validates an image held in memory (data stays owned by the
 * caller; the image keeps offsets, not pointers). *out is malloc'd: free with
 * cl_image_free. On failure *out is untouched and the detail says what is wrong. */
CL_MUST_CHECK cl_err cl_image_parse(const uint8_t *data, size_t len, cl_image **out);
/* Frees an image from cl_image_parse. NULL is fine. */
void cl_image_free(cl_image *img);
/* Builds an image file at out_path (written atomically). Every input must
 * be a regular file: a FIFO, socket, device or directory is refused
 * (CL_EINVAL) without being opened, a symbolic link too unless flags has
 * CL_IMAGE_FOLLOW_SYMLINKS (then its target is packed; a loop is CL_EINVAL,
 * a dangling link CL_ENOTFOUND). A full disk is CL_ENOSPACE.
 * cl_image_build is cl_image_build_flags with flags 0. */
#define CL_IMAGE_FOLLOW_SYMLINKS 1u
CL_MUST_CHECK cl_err cl_image_build_flags(const cl_image_spec *spec, const char *out_path, unsigned flags);
CL_MUST_CHECK cl_err cl_image_build(const cl_image_spec *spec, const char *out_path);
/* Writes the image's files under the directory dirfd (creating parent
 * directories, never following symlinks). data/len are the bytes img was
 * parsed from. */
CL_MUST_CHECK cl_err cl_image_extract(const cl_image *img, const uint8_t *data, size_t len, int dirfd);

/* Signs hash (a SHA-384 digest) into sig as a raw ECDSA P-384 signature,
 * r || s (48 bytes each, big-endian). ctx is cl_image_sign's. */
typedef cl_err (*cl_image_signer)(void *ctx, const uint8_t hash[static 48], uint8_t sig[static CL_IMAGE_SIG_LEN]);

/* Signs the image data[0..len) (signed or not) with a key that only the
 * callback holds: out (the caller's buffer, reset first; it owns the bytes)
 * receives the image without any old signature section, followed by a new
 * section holding cert[0..cert_len) (the signer's X.509 certificate, DER,
 * with a P-384 key) and the signature sign made over SHA-384 of the image
 * without its section. The signature is checked under the certificate's key
 * before anything is returned, so a key that does not belong to the
 * certificate is CL_ECRYPTO. CL_EINVAL for an invalid image or a certificate
 * that does not parse or has no P-384 key, CL_ETOOBIG if the signed image
 * would exceed CL_IMAGE_MAX_SIZE or out's max; the signer's error as is. On
 * failure out holds nothing. */
CL_MUST_CHECK cl_err cl_image_sign(const uint8_t *data, size_t len, const uint8_t *cert, size_t cert_len,
				   cl_image_signer sign, void *ctx, cl_buf *out);

/* The signer's subject (RFC 2253, control characters escaped) of a signed
 * image img parsed from data[0..len), into out (n bytes, truncated to fit).
 * CL_ENOTFOUND if the image is unsigned, CL_EINVAL if data is too short to
 * be img's. */
CL_MUST_CHECK cl_err cl_image_signer_subject(const cl_image *img, const uint8_t *data, size_t len, char *out,
					     size_t n);

#endif
