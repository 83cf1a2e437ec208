/* measure.c — measurement registers (measure.h; the exact bytes of each
 * register are in docs/measurements.md).
 *
 * Every register is built from zeros with the one extend operation, so a
 * verifier can recompute any of them with nothing but SHA-384. What goes in
 * is only the image's own bytes, the init binary's bytes and the launch
 * names: no time, no path, nothing of the machine that builds or measures.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "image/image_internal.h"
#include "image/measure.h"

/* R' = SHA-384(R || h), h being SHA-384 of the data. */
static cl_err extend_hash(uint8_t reg[CL_PCR_LEN], const uint8_t h[CL_SHA384_LEN])
{
	uint8_t cat[CL_PCR_LEN + CL_SHA384_LEN];
	memcpy(cat, reg, CL_PCR_LEN);
	memcpy(cat + CL_PCR_LEN, h, CL_SHA384_LEN);
	return cl_sha384(cat, sizeof(cat), reg);
}

static cl_err extend_checked(uint8_t reg[CL_PCR_LEN], const void *data, size_t len)
{
	uint8_t h[CL_SHA384_LEN];
	CL_GUARD(cl_sha384(len ? data : "", len, h));
	return extend_hash(reg, h);
}

void cl_pcr_extend(uint8_t reg[CL_PCR_LEN], const void *data, size_t len)
{
	/* SHA-384 fails only when OpenSSL cannot allocate. The register must
	 * then match nothing a verifier expects: all 0xff bytes is no value a
	 * chain of extends from zeros reaches (short of breaking SHA-384), and
	 * extends after it stay off every expected value. */
	if (extend_checked(reg, data, len) != CL_OK)
		memset(reg, 0xff, CL_PCR_LEN);
}

void cl_pcr_extend_digest(uint8_t reg[CL_PCR_LEN], const uint8_t digest[CL_PCR_LEN])
{
	if (extend_hash(reg, digest) != CL_OK)
		memset(reg, 0xff, CL_PCR_LEN);
}

void cl_pcrs_init(cl_pcrs *p)
{
	memset(p, 0, sizeof(*p));
}

/* ---- PCR2: the application, as one canonical byte string -------------- */

/* Streams the encoding of docs/measurements.md "PCR2" into a SHA-384. */
typedef struct enc {
	EVP_MD_CTX *md;
	bool ok;
} enc;

static void put(enc *e, const void *p, size_t n)
{
	e->ok = e->ok && (n == 0 || EVP_DigestUpdate(e->md, p, n) == 1);
}

static void put_be32(enc *e, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(e, b, sizeof(b));
}

static void put_be64(enc *e, uint64_t v)
{
	put_be32(e, (uint32_t)(v >> 32));
	put_be32(e, (uint32_t)v);
}

/* A length-prefixed string: u32 BE byte count, then the bytes. */
static void put_str(enc *e, const char *s)
{
	size_t n = strlen(s);
	e->ok = e->ok && n <= UINT32_MAX;
	put_be32(e, (uint32_t)n);
	put(e, s, n);
}

static cl_err app_hash(const cl_image *img, uint8_t out[CL_SHA384_LEN])
{
	enc e = {EVP_MD_CTX_new(), true};
	unsigned int n = 0;
	e.ok = e.md && EVP_DigestInit_ex(e.md, EVP_sha384(), NULL) == 1;
	put_str(&e, img->entrypoint);
	put_be32(&e, (uint32_t)img->nargs);
	for (size_t i = 0; i < img->nargs; i++)
		put_str(&e, img->args[i]);
	put_be32(&e, (uint32_t)img->nfiles);
	for (size_t i = 0; i < img->nfiles; i++) {
		const cl_image_file *f = &img->files[i];
		put_str(&e, f->path);
		put_be32(&e, f->mode);
		put_be64(&e, f->size);
		put(&e, f->sha384, sizeof(f->sha384));
	}
	e.ok = e.ok && EVP_DigestFinal_ex(e.md, out, &n) == 1 && n == CL_SHA384_LEN;
	EVP_MD_CTX_free(e.md);
	ERR_clear_error();
	CL_ENSURE(e.ok, CL_EINTERNAL, "SHA-384 of the application record failed");
	return CL_OK;
}

cl_err cl_image_measure(const cl_image *img, const uint8_t *data, size_t len, const cl_boot_files *boot, cl_pcrs *p)
{
	CL_ENSURE(img && p && (data || len == 0), CL_EINVAL, "nothing to measure");
	CL_ENSURE(!boot || (boot->init && boot->helper), CL_EINVAL,
		  "PCR1 needs both cloister-init and cloister-init-bundle");
	CL_ENSURE(img->body_len <= len && img->signer_cert <= len && img->signer_cert_len <= len - img->signer_cert,
		  CL_EINVAL, "the data is not the image that was parsed");
	uint8_t body[CL_SHA384_LEN], whole[CL_SHA384_LEN], app[CL_SHA384_LEN];
	/* The whole file's hash comes with the same pass and proves data is
	 * the image img describes (offsets, sizes and all). */
	CL_GUARD(cl_image_hash_two(data, (size_t)img->body_len, len, body, whole));
	CL_ENSURE(memcmp(whole, img->digest, sizeof(whole)) == 0, CL_EINVAL,
		  "the data is not the image that was parsed (its SHA-384 differs)");
	CL_GUARD(app_hash(img, app));

	/* Into a copy: p changes only if every register could be computed. */
	cl_pcrs r = *p;
	memset(r.v[0], 0, CL_PCR_LEN);
	memset(r.v[1], 0, CL_PCR_LEN);
	memset(r.v[2], 0, CL_PCR_LEN);
	memset(r.v[8], 0, CL_PCR_LEN);
	CL_GUARD(extend_hash(r.v[0], body));
	if (boot) {
		CL_GUARD(extend_checked(r.v[1], boot->init, boot->init_len));
		CL_GUARD(extend_checked(r.v[1], boot->helper, boot->helper_len));
	}
	CL_GUARD(extend_hash(r.v[2], app));
	if (img->signer_cert_len)
		CL_GUARD(extend_checked(r.v[8], data + img->signer_cert, img->signer_cert_len));
	*p = r;
	return CL_OK;
}

void cl_pcrs_await_bundle(cl_pcrs *p)
{
	cl_pcr_extend(p->v[3], CL_PCR3_AWAIT_BUNDLE, strlen(CL_PCR3_AWAIT_BUNDLE));
}

void cl_pcrs_suspendable(cl_pcrs *p)
{
	cl_pcr_extend(p->v[3], CL_PCR3_SUSPENDABLE, strlen(CL_PCR3_SUSPENDABLE));
}

static int cmp_port(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
}

void cl_pcrs_network(cl_pcrs *p, const uint16_t *ports, size_t nports)
{
	uint16_t sorted[CL_PCR3_EXPOSE_MAX];
	char text[sizeof(CL_PCR3_NETWORK) + CL_PCR3_EXPOSE_MAX * 6];
	size_t n = nports < CL_PCR3_EXPOSE_MAX ? nports : CL_PCR3_EXPOSE_MAX, len;
	if (n)
		memcpy(sorted, ports, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_port);
	len = (size_t)snprintf(text, sizeof(text), "%s", CL_PCR3_NETWORK);
	for (size_t i = 0; i < n; i++) /* at most 6 bytes each: the buffer holds them all */
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%c%u", i ? ',' : ':', (unsigned)sorted[i]);
	cl_pcr_extend(p->v[3], text, len);
}

void cl_pcrs_launch(cl_pcrs *p, const char *tenant_id, const char *enclave_name, const char *host_id)
{
	memset(p->v[3], 0, CL_PCR_LEN);
	memset(p->v[4], 0, CL_PCR_LEN);
	if (tenant_id && enclave_name) {
		cl_pcr_extend(p->v[3], tenant_id, strlen(tenant_id));
		cl_pcr_extend(p->v[3], enclave_name, strlen(enclave_name));
	}
	if (host_id)
		cl_pcr_extend(p->v[4], host_id, strlen(host_id));
}
