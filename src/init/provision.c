/* provision.c — cloister-init-bundle decrypts, checks and installs a
 * bundle (provision.h, docs/provisioning.md).
 *
 * The ciphertext is the wrap of common/wrap.h with the bundle label:
 *   E (97) || iv (12) || AES-256-GCM(tar) || tag (16),
 *   key = HKDF-SHA384(ikm = ECDH(d, E).x, info = "cloister-bundle-wrap-v1" || E || Q).
 * It arrives in BUNDLE chunks of any size: the first 109 bytes set up the
 * cipher, the last 16 (held back, as the length is known only at the end)
 * are the tag. Plaintext goes to CL_INIT_STAGING_DIR/bundle.tar and is
 * hashed as it goes; nothing of it is used before the tag verifies, and the
 * tree is extracted beside it and renamed into place only when whole.
 */
#include "init/provision.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/rawio.h"

#define POINT_LEN 97
#define IV_LEN 12
#define TAG_LEN 16
#define HEAD_LEN (POINT_LEN + IV_LEN)
#define CT_MAX (CL_BUNDLE_MAX + HEAD_LEN + TAG_LEN)
#define INFO "cloister-bundle-wrap-v1"
#define TAR_PATH CL_INIT_STAGING_DIR "/bundle.tar"
#define TREE_PATH CL_INIT_STAGING_DIR "/root"
#define OUT_MAX ((1u << 20) + 2 * TAG_LEN)

static struct {
	bool awaiting;      /* a key exists and no bundle runs */
	bool receiving;     /* a transfer has started (staging exists) */
	EVP_PKEY *key;
	uint8_t point[POINT_LEN];
	EVP_CIPHER_CTX *cc;
	EVP_MD_CTX *md;
	int fd;             /* staging tar */
	uint8_t head[HEAD_LEN];
	size_t head_len;
	uint8_t tail[TAG_LEN];
	size_t tail_len;
	uint64_t total;     /* ciphertext bytes received */
	uint8_t *out;       /* plaintext of one chunk */
	char fail[CL_INIT_REASON_MAX]; /* first failure of this transfer */
} g = {.fd = -1};

/* Ends a transfer: cipher state dropped, staging removed. */
static void reset_transfer(void)
{
	if (g.fd >= 0)
		close(g.fd);
	g.fd = -1;
	EVP_CIPHER_CTX_free(g.cc);
	g.cc = NULL;
	EVP_MD_CTX_free(g.md);
	g.md = NULL;
	if (g.out)
		OPENSSL_cleanse(g.out, OUT_MAX);
	OPENSSL_cleanse(g.head, sizeof(g.head));
	OPENSSL_cleanse(g.tail, sizeof(g.tail));
	g.head_len = g.tail_len = 0;
	g.total = 0;
	g.fail[0] = '\0';
	g.receiving = false;
	cl_raw_rm_tree(CL_INIT_STAGING_DIR);
}

static void set_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_fail(const char *fmt, ...)
{
	va_list ap;
	if (g.fail[0])
		return;
	va_start(ap, fmt);
	vsnprintf(g.fail, sizeof(g.fail), fmt, ap);
	va_end(ap);
}

int cl_init_prov_start(uint8_t point[97], char reason[CL_INIT_REASON_MAX])
{
	size_t n = 0;
	/* Locked, undumpable pages for the private key's numbers (BN_secure). */
	if (CRYPTO_secure_malloc_init(32 << 10, 32) != 1)
		snprintf(reason, CL_INIT_REASON_MAX, "secure heap unavailable: the key lives in ordinary memory");
	else
		reason[0] = '\0';
	g.key = EVP_EC_gen("secp384r1");
	g.out = malloc(OUT_MAX);
	if (!g.key || !g.out ||
	    EVP_PKEY_get_octet_string_param(g.key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, g.point, sizeof(g.point),
					    &n) != 1 ||
	    n != POINT_LEN || g.point[0] != 0x04) {
		snprintf(reason, CL_INIT_REASON_MAX, "cannot make the enclave's P-384 key");
		return -1;
	}
	memcpy(point, g.point, POINT_LEN);
	g.awaiting = true;
	return 0;
}

/* The wrap's AES key from E (the sender's ephemeral point), our key and label. */
static int derive(const char *label, const uint8_t *E, uint8_t key[32])
{
	uint8_t z[48], info[64 + 2 * POINT_LEN];
	size_t zlen = sizeof(z), keylen = 32, llen = strlen(label);
	int rc = -1;
	if (llen > 64 || !g.key)
		return -1;
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL), *dc = NULL, *kc = NULL;
	OSSL_PARAM prm[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"secp384r1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)E, POINT_LEN),
		OSSL_PARAM_construct_end(),
	};
	if (!pc || EVP_PKEY_fromdata_init(pc) != 1 || EVP_PKEY_fromdata(pc, &peer, EVP_PKEY_PUBLIC_KEY, prm) != 1)
		goto out;
	dc = EVP_PKEY_CTX_new(g.key, NULL);
	if (!dc || EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer_ex(dc, peer, 1) != 1 ||
	    EVP_PKEY_derive(dc, z, &zlen) != 1 || zlen != sizeof(z))
		goto out;
	memcpy(info, label, llen);
	memcpy(info + llen, E, POINT_LEN);
	memcpy(info + llen + POINT_LEN, g.point, POINT_LEN);
	kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	if (!kc || EVP_PKEY_derive_init(kc) != 1 || EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha384()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(kc, z, sizeof(z)) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(kc, info, llen + 2 * POINT_LEN) != 1 ||
	    EVP_PKEY_derive(kc, key, &keylen) != 1 || keylen != 32)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(z, sizeof(z));
	if (rc != 0)
		OPENSSL_cleanse(key, 32);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(peer);
	return rc;
}

/* The GCM key from E (the sender's ephemeral point, g.head) and our key. */
static int setup_cipher(void)
{
	uint8_t key[32];
	int rc = -1;
	if (derive(INFO, g.head, key) != 0)
		return -1;
	g.cc = EVP_CIPHER_CTX_new();
	g.md = EVP_MD_CTX_new();
	if (g.cc && g.md && EVP_DecryptInit_ex(g.cc, EVP_aes_256_gcm(), NULL, key, g.head + POINT_LEN) == 1 &&
	    EVP_DigestInit_ex(g.md, EVP_sha384(), NULL) == 1)
		rc = 0;
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int cl_init_prov_unwrap(const char *label, const uint8_t *in, size_t n, uint8_t *out, size_t outlen)
{
	uint8_t key[32];
	int outl = 0, fin = 0, rc = -1;
	EVP_CIPHER_CTX *c = NULL;
	if (n != HEAD_LEN + outlen + TAG_LEN || outlen > INT_MAX || in[0] != 0x04 || derive(label, in, key) != 0)
		return -1;
	c = EVP_CIPHER_CTX_new();
	if (c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in + POINT_LEN) == 1 &&
	    EVP_DecryptUpdate(c, out, &outl, in + HEAD_LEN, (int)outlen) == 1 && (size_t)outl == outlen &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + HEAD_LEN + outlen)) == 1 &&
	    EVP_DecryptFinal_ex(c, out + outl, &fin) == 1 && fin == 0)
		rc = 0;
	if (rc != 0)
		OPENSSL_cleanse(out, outlen);
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* Decrypts ct[0..n) into the staging tar. */
static void decrypt(const uint8_t *ct, size_t n)
{
	int outl = 0;
	if (!n || g.fail[0])
		return;
	if (EVP_DecryptUpdate(g.cc, g.out, &outl, ct, (int)n) != 1 || outl < 0) {
		set_fail("%s", "decrypt_failed");
		return;
	}
	if (EVP_DigestUpdate(g.md, g.out, (size_t)outl) != 1 || cl_raw_write_all(g.fd, g.out, (size_t)outl) != 0)
		set_fail("no_space: cannot stage the bundle in /tmp (%s): the enclave needs about twice the "
			 "bundle's size in /tmp, a quarter of its memory",
			 errno == ENOSPC ? "full" : strerror(errno));
}

void cl_init_prov_chunk(const uint8_t *p, size_t n)
{
	if (!g.awaiting || n == 0)
		return; /* answered not_awaiting_bundle at the end */
	if (!g.receiving) {
		reset_transfer();
		g.receiving = true;
		if (mkdir(CL_INIT_STAGING_DIR, 0700) != 0 ||
		    (g.fd = open(TAR_PATH, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
			set_fail("no_space: cannot create the staging directory in /tmp: %s", strerror(errno));
	}
	if (g.fail[0])
		return;
	if (n > CT_MAX - g.total) {
		set_fail("too_large: a bundle is at most %s of tar", "64 MiB");
		return;
	}
	g.total += n;
	if (g.head_len < HEAD_LEN) {
		size_t k = HEAD_LEN - g.head_len < n ? HEAD_LEN - g.head_len : n;
		memcpy(g.head + g.head_len, p, k);
		g.head_len += k;
		p += k;
		n -= k;
		if (g.head_len < HEAD_LEN)
			return;
		if (g.head[0] != 0x04 || setup_cipher() != 0) {
			set_fail("%s", "decrypt_failed");
			return;
		}
	}
	/* hold back the last TAG_LEN bytes seen: they may be the tag */
	while (n) {
		if (g.tail_len + n <= TAG_LEN) {
			memcpy(g.tail + g.tail_len, p, n);
			g.tail_len += n;
			return;
		}
		size_t release = g.tail_len + n - TAG_LEN; /* bytes that cannot be the tag */
		size_t from_tail = release < g.tail_len ? release : g.tail_len;
		decrypt(g.tail, from_tail);
		memmove(g.tail, g.tail + from_tail, g.tail_len - from_tail);
		g.tail_len -= from_tail;
		size_t from_p = release - from_tail;
		while (from_p) {
			size_t k = from_p < (1u << 20) ? from_p : (1u << 20);
			decrypt(p, k);
			p += k;
			n -= k;
			from_p -= k;
		}
		memcpy(g.tail + g.tail_len, p, n);
		g.tail_len += n;
		n = 0;
	}
}

/* Makes the parents of path (relative to dfd) that do not exist. */
static int mkdir_parents(int dfd, const char *path)
{
	char tmp[CL_BUNDLE_PATH_MAX + 1];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *s = strchr(tmp, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(dfd, tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

/* Extracts the verified tar into TREE_PATH; why gets the refusal. */
static int extract(char why[CL_BUNDLE_WHY_MAX])
{
	struct stat st;
	uint8_t *map = MAP_FAILED;
	int dfd = -1, rc = -1;
	if (fstat(g.fd, &st) != 0 || st.st_size <= 0) {
		snprintf(why, CL_BUNDLE_WHY_MAX, "(archive): empty");
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, g.fd, 0);
	if (map == MAP_FAILED || mkdir(TREE_PATH, 0755) != 0 ||
	    (dfd = open(TREE_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(why, CL_BUNDLE_WHY_MAX, "(archive): cannot stage: %s", strerror(errno));
		goto out;
	}
	cl_tar t;
	cl_tar_entry e;
	bool got = true;
	cl_tar_init(&t, map, (size_t)st.st_size);
	for (;;) {
		if (cl_tar_next(&t, &e, &got, why) != CL_OK)
			goto out;
		if (!got)
			break;
		if (mkdir_parents(dfd, e.path) != 0) {
			snprintf(why, CL_BUNDLE_WHY_MAX, "%.60s: %s", e.path, strerror(errno));
			goto out;
		}
		if (e.type == CL_TAR_DIR) {
			/* a directory listed after a file inside it already exists */
			if (mkdirat(dfd, e.path, 0755) != 0 &&
			    !(errno == EEXIST && fstatat(dfd, e.path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			      S_ISDIR(st.st_mode))) {
				snprintf(why, CL_BUNDLE_WHY_MAX, "%.60s: %s", e.path,
					 errno == EEXIST ? "listed twice" : strerror(errno));
				goto out;
			}
			continue;
		}
		/* O_EXCL: a name listed twice is refused, and nothing here is a link */
		int fd = openat(dfd, e.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e.mode | 0600);
		if (fd < 0 || cl_raw_write_all(fd, e.data, (size_t)e.size) != 0 || fchmod(fd, e.mode | 0400) != 0) {
			snprintf(why, CL_BUNDLE_WHY_MAX, "%.60s: %s", e.path, errno == EEXIST ? "listed twice" : strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	if (fstatat(dfd, "entrypoint", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0100)) {
		snprintf(why, CL_BUNDLE_WHY_MAX, "entrypoint: no executable file named entrypoint at the top");
		goto out;
	}
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	return rc;
}

int cl_init_prov_end(const uint8_t *p, size_t n, uint8_t digest[48], char reason[CL_INIT_REASON_MAX])
{
	uint8_t want[48], got[48];
	uint64_t length = 0;
	unsigned dlen = 0;
	int outl = 0, rc = 0;
	if (n == 0) { /* the sender went away: back to awaiting */
		reset_transfer();
		return -1;
	}
	if (!g.awaiting) {
		snprintf(reason, CL_INIT_REASON_MAX, "not_awaiting_bundle");
		return 0;
	}
	if (cl_bundle_end_parse(p, n, want, &length) != CL_OK) {
		snprintf(reason, CL_INIT_REASON_MAX, "bad_request: malformed BUNDLE_END");
		goto out;
	}
	if (g.fail[0]) {
		snprintf(reason, CL_INIT_REASON_MAX, "%s", g.fail);
		goto out;
	}
	if (!g.receiving || !g.cc || g.total != length || g.tail_len != TAG_LEN ||
	    EVP_CIPHER_CTX_ctrl(g.cc, EVP_CTRL_GCM_SET_TAG, TAG_LEN, g.tail) != 1 ||
	    EVP_DecryptFinal_ex(g.cc, g.out, &outl) != 1) {
		snprintf(reason, CL_INIT_REASON_MAX, "decrypt_failed");
		goto out;
	}
	if (EVP_DigestFinal_ex(g.md, got, &dlen) != 1 || dlen != sizeof(got) || CRYPTO_memcmp(got, want, 48) != 0) {
		snprintf(reason, CL_INIT_REASON_MAX, "digest_mismatch");
		goto out;
	}
	char why[CL_BUNDLE_WHY_MAX];
	if (extract(why) != 0) {
		snprintf(reason, CL_INIT_REASON_MAX, "bad_bundle: %s", why);
		goto out;
	}
	cl_raw_rm_tree(CL_INIT_BUNDLE_DIR); /* nothing there: init removed a bundle that did not start */
	if (rename(TREE_PATH, CL_INIT_BUNDLE_DIR) != 0) {
		snprintf(reason, CL_INIT_REASON_MAX, "no_space: cannot install the bundle: %s", strerror(errno));
		goto out;
	}
	memcpy(digest, got, 48);
	rc = 1;
out:
	reset_transfer();
	return rc;
}

void cl_init_prov_wipe(void)
{
	reset_transfer();
	g.awaiting = false;
	EVP_PKEY_free(g.key); /* the private number is a secure-heap BIGNUM: cleared */
	g.key = NULL;
	if (g.out) {
		OPENSSL_cleanse(g.out, OUT_MAX);
		free(g.out);
		g.out = NULL;
	}
}
