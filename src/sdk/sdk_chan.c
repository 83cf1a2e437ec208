/* sdk_chan.c — the channel: an enclave application's stdin and stdout are
 * what `cloister enclave send` delivers and `cloister enclave recv` returns
 * (cloister-init relays them). Framing-free: bytes in, bytes out. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sdk/sdk_internal.h"

cle_err cle_chan_read(void *p, size_t n, size_t *got)
{
	if (!p || !got)
		return cle_fail(CLE_EINVAL, "cle_chan_read: bad arguments");
	for (;;) {
		ssize_t r = read(STDIN_FILENO, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cle_fail(CLE_EIO, "channel: read: %s", strerror(errno));
		*got = (size_t)r;
		return cle_ok();
	}
}

cle_err cle_chan_write(const void *p, size_t n)
{
	const uint8_t *q = p;
	if (!p && n)
		return cle_fail(CLE_EINVAL, "cle_chan_write: bad arguments");
	while (n) {
		ssize_t w = write(STDOUT_FILENO, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return cle_fail(CLE_EIO, "channel: write: %s", w < 0 ? strerror(errno) : "closed");
		q += w;
		n -= (size_t)w;
	}
	return cle_ok();
}

cle_err cle_chan_read_line(char *line, size_t cap, size_t *len)
{
	size_t k = 0;
	int over = 0;
	if (!line || cap == 0 || !len)
		return cle_fail(CLE_EINVAL, "cle_chan_read_line: bad arguments");
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			line[k] = '\0';
			return cle_fail(CLE_EIO, "channel: %s before a whole line", r < 0 ? strerror(errno) : "end of input");
		}
		if (c == '\n')
			break;
		if (k + 1 < cap)
			line[k++] = c;
		else
			over = 1;
	}
	line[k] = '\0';
	*len = k;
	return over ? cle_fail(CLE_ETOOBIG, "channel: a line longer than %zu bytes", cap - 1) : cle_ok();
}
