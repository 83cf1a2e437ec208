/* sdk_nsm.c — libcloister-enclave's side of the secure module
 * (/dev/cloister/nsm.sock; wire format in docs/guest-interface.md, "The
 * secure module"): one connection per request, one frame out, one frame
 * back. The answer's length is checked against the caller's buffer before
 * a byte of the body is read into it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdk/sdk_internal.h"

#define IO_TIMEOUT_S 15 /* the gate answers within 5 s or the process says internal */

static _Thread_local char detail[256];
static char nsm_path[108] = CLE_NSM_PATH;

cle_err cle_fail(cle_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return e;
}

cle_err cle_ok(void)
{
	detail[0] = '\0';
	return CLE_OK;
}

const char *cle_error_detail(void)
{
	return detail;
}

cle_err cle_set_nsm_path(const char *path)
{
	if (!path)
		path = CLE_NSM_PATH;
	if (strlen(path) >= sizeof(nsm_path))
		return cle_fail(CLE_EINVAL, "socket path too long");
	memcpy(nsm_path, path, strlen(path) + 1);
	return cle_ok();
}

static cle_err write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cle_fail(CLE_EIO, "secure module: send: %s", w < 0 ? strerror(errno) : "closed");
		p += w;
		n -= (size_t)w;
	}
	return CLE_OK;
}

static cle_err read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return cle_fail(CLE_EIO, "secure module: %s", r < 0 ? strerror(errno) : "closed the connection");
		p += r;
		n -= (size_t)r;
	}
	return CLE_OK;
}

static cle_err status_err(uint8_t status, const char *msg)
{
	switch (status) {
	case 1: return cle_fail(CLE_EREFUSED, "secure module: bad request: %s", msg);
	case 2: return cle_fail(CLE_ELIMIT, "secure module: %s", msg);
	case 3: return cle_fail(CLE_EUNAVAIL, "secure module: %s", msg);
	default: return cle_fail(CLE_EREFUSED, "secure module: %s", msg);
	}
}

cle_err cle_nsm_call(const uint8_t *req, size_t n, uint8_t *out, size_t *len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	uint8_t hdr[5];
	cle_err e;
	memcpy(sa.sun_path, nsm_path, strlen(nsm_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cle_fail(CLE_EIO, "secure module: socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = cle_fail(CLE_EIO, "secure module %s: %s", nsm_path, strerror(errno));
		goto out;
	}
	if ((e = write_all(fd, req, n)) != CLE_OK || (e = read_all(fd, hdr, sizeof(hdr))) != CLE_OK)
		goto out;
	uint32_t alen = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (alen < 1 || alen > 1 + CLE_DOC_MAX) {
		e = cle_fail(CLE_EIO, "secure module: answer of %u bytes", alen);
		goto out;
	}
	size_t blen = alen - 1;
	if (hdr[4] != 0) {
		char msg[201];
		size_t k = blen < sizeof(msg) - 1 ? blen : sizeof(msg) - 1;
		if ((e = read_all(fd, (uint8_t *)msg, k)) != CLE_OK)
			goto out;
		msg[k] = '\0';
		for (size_t i = 0; i < k; i++)
			if (msg[i] < 0x20 || msg[i] > 0x7e)
				msg[i] = '?';
		e = status_err(hdr[4], msg);
		goto out;
	}
	if (blen > *len) {
		e = cle_fail(CLE_ETOOBIG, "secure module: an answer of %zu bytes for a buffer of %zu", blen, *len);
		goto out;
	}
	if ((e = read_all(fd, out, blen)) != CLE_OK)
		goto out;
	*len = blen;
	e = cle_ok();
out:
	close(fd);
	return e;
}

static void put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

cle_err cle_attest(const uint8_t *nonce, size_t nonce_len, const uint8_t *user_data, size_t user_data_len,
		   const uint8_t *public_key, size_t public_key_len, uint8_t *out_doc, size_t *len)
{
	uint8_t req[4 + 1 + 6 + CLE_NONCE_MAX + CLE_USER_DATA_MAX + CLE_PUBLIC_KEY_MAX];
	const uint8_t *f[3] = {nonce, user_data, public_key};
	const size_t fl[3] = {nonce ? nonce_len : 0, user_data ? user_data_len : 0, public_key ? public_key_len : 0};
	const size_t cap[3] = {CLE_NONCE_MAX, CLE_USER_DATA_MAX, CLE_PUBLIC_KEY_MAX};
	static const char *const name[3] = {"nonce", "user_data", "public_key"};
	size_t k = 5;
	if (!out_doc || !len)
		return cle_fail(CLE_EINVAL, "cle_attest: no output buffer");
	for (int i = 0; i < 3; i++) {
		if (fl[i] > cap[i])
			return cle_fail(CLE_EINVAL, "cle_attest: %s longer than %zu bytes", name[i], cap[i]);
		put_be16(req + k, fl[i]);
		k += 2;
		if (fl[i])
			memcpy(req + k, f[i], fl[i]);
		k += fl[i];
	}
	size_t n = k - 4;
	req[0] = 0, req[1] = 0, req[2] = (uint8_t)(n >> 8), req[3] = (uint8_t)n;
	req[4] = 1; /* ATTEST */
	return cle_nsm_call(req, k, out_doc, len);
}

cle_err cle_seal_key(const char *label, uint8_t out[CLE_SEAL_KEY_LEN])
{
	uint8_t req[4 + 2 + CLE_LABEL_MAX];
	size_t n = label ? strnlen(label, CLE_LABEL_MAX + 1) : 0, got = CLE_SEAL_KEY_LEN;
	if (n < 1 || n > CLE_LABEL_MAX || !out)
		return cle_fail(CLE_EINVAL, "cle_seal_key: label must be 1..%d bytes", CLE_LABEL_MAX);
	req[0] = 0, req[1] = 0, req[2] = 0, req[3] = (uint8_t)(2 + n);
	req[4] = 2; /* SEAL_KEY */
	req[5] = (uint8_t)n;
	memcpy(req + 6, label, n);
	cle_err e = cle_nsm_call(req, 6 + n, out, &got);
	if (e == CLE_OK && got != CLE_SEAL_KEY_LEN) {
		explicit_bzero(out, CLE_SEAL_KEY_LEN);
		e = cle_fail(CLE_EIO, "secure module: a sealing key of %zu bytes", got);
	}
	return e;
}
