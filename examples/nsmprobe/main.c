/* nsmprobe — a static program run inside enclaves by the secure-module
 * tests (tests/integration/host_nsm.sh), built with libcloister-enclave.
 * One command per line on stdin, one answer line on stdout; it reports raw
 * facts and the tests decide what is acceptable.
 *
 *   ATTEST NONCE USERDATA PUBKEY   each hex or "-" (absent): "ATTEST ok BASE64"
 *   SEALKEY LABEL                  "SEALKEY ok HEX"
 *   SEAL LABEL HEX                 "SEAL ok BASE64"
 *   UNSEAL LABEL BASE64            "UNSEAL ok HEX"
 *   BURST N                        N SEALKEY requests at once: "BURST ok=A limited=B other=C"
 *   CONNECT PATH                   "CONNECT ok" or "CONNECT error=ERRNO" (any UNIX socket path)
 *   RAW HEX                        sends the bytes as they are to nsm.sock:
 *                                  "RAW status=S len=N" of the answer, or "RAW closed"
 *   LS                             "LS name..." of /dev/cloister
 *   STATEPATH                      "STATEPATH ok PATH MODE" (cle_state_path, its octal mode)
 *   STATEPUT NAME TEXT             writes TEXT to NAME under cle_state_path(): "STATEPUT ok"
 *   STATEGET NAME                  "STATEGET ok TEXT" of that file
 * A failure is "<CMD> error <cle_err> <detail>".
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cloister/enclave.h"

static char line[65536], out[65536 + 256];
static uint8_t buf[CLE_DOC_MAX], buf2[CLE_DOC_MAX];

static void answer(const char *s)
{
	(void)cle_chan_write(s, strlen(s));
	(void)cle_chan_write("\n", 1);
}

static void fail(const char *cmd, cle_err e)
{
	snprintf(out, sizeof(out), "%s error %d %s", cmd, (int)e, cle_error_detail());
	answer(out);
}

static int unhex(const char *s, uint8_t *o, size_t cap, size_t *n)
{
	size_t l = strlen(s);
	if (strcmp(s, "-") == 0) {
		*n = 0;
		return 0;
	}
	if (l % 2 || l / 2 > cap)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		o[i] = (uint8_t)v;
	}
	*n = l / 2;
	return 0;
}

static void hex(const uint8_t *p, size_t n, char *o)
{
	for (size_t i = 0; i < n; i++)
		snprintf(o + 2 * i, 3, "%02x", p[i]);
	o[2 * n] = '\0';
}

static void cmd_attest(char *args)
{
	static uint8_t f[3][1024];
	size_t n[3], dlen = sizeof(buf);
	char *tok[3], *save = NULL;
	for (int i = 0; i < 3; i++) {
		tok[i] = strtok_r(i ? NULL : args, " ", &save);
		if (!tok[i] || unhex(tok[i], f[i], sizeof(f[i]), &n[i]) != 0) {
			answer("ATTEST error usage");
			return;
		}
	}
	cle_err e = cle_attest(n[0] ? f[0] : NULL, n[0], n[1] ? f[1] : NULL, n[1], n[2] ? f[2] : NULL, n[2], buf, &dlen);
	if (e != CLE_OK)
		return fail("ATTEST", e);
	memcpy(out, "ATTEST ok ", 10);
	EVP_EncodeBlock((unsigned char *)out + 10, buf, (int)dlen);
	answer(out);
}

static void cmd_seal(char *args, int open)
{
	char *label = strtok(args, " "), *data = strtok(NULL, " ");
	size_t n = 0, len = sizeof(buf2);
	if (!label || !data) {
		answer(open ? "UNSEAL error usage" : "SEAL error usage");
		return;
	}
	if (!open) {
		if (unhex(data, buf, sizeof(buf) - CLE_SEAL_OVERHEAD, &n) != 0) {
			answer("SEAL error usage");
			return;
		}
		cle_err e = cle_seal(label, buf, n, buf2, &len);
		if (e != CLE_OK)
			return fail("SEAL", e);
		memcpy(out, "SEAL ok ", 8);
		EVP_EncodeBlock((unsigned char *)out + 8, buf2, (int)len);
		answer(out);
		return;
	}
	int m = EVP_DecodeBlock(buf, (const unsigned char *)data, (int)strlen(data));
	if (m < 0) {
		answer("UNSEAL error usage");
		return;
	}
	for (const char *e = data + strlen(data); e > data && e[-1] == '='; e--)
		m--;
	cle_err e = cle_unseal(label, buf, (size_t)m, buf2, &len);
	if (e != CLE_OK)
		return fail("UNSEAL", e);
	memcpy(out, "UNSEAL ok ", 10);
	hex(buf2, len, out + 10);
	answer(out);
}

static void cmd_burst(const char *arg)
{
	long n = strtol(arg, NULL, 10);
	int ok = 0, limited = 0, other = 0;
	uint8_t k[CLE_SEAL_KEY_LEN];
	for (int i = 0; i < n && i < 1000; i++) {
		cle_err e = cle_seal_key("burst", k);
		if (e == CLE_OK)
			ok++;
		else if (e == CLE_ELIMIT)
			limited++;
		else
			other++;
	}
	snprintf(out, sizeof(out), "BURST ok=%d limited=%d other=%d", ok, limited, other);
	answer(out);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void cmd_connect(const char *path)
{
	int fd = connect_to(path);
	if (fd < 0) {
		snprintf(out, sizeof(out), "CONNECT error=%s", errno == ENOENT ? "ENOENT" : errno == EACCES ? "EACCES"
									  : errno == ECONNREFUSED ? "ECONNREFUSED"
												  : strerror(errno));
	} else {
		close(fd);
		snprintf(out, sizeof(out), "CONNECT ok");
	}
	answer(out);
}

static void cmd_raw(const char *h)
{
	size_t n = 0;
	uint8_t a[5];
	if (unhex(h, buf, sizeof(buf), &n) != 0) {
		answer("RAW error usage");
		return;
	}
	int fd = connect_to(CLE_NSM_PATH);
	if (fd < 0) {
		answer("RAW error connect");
		return;
	}
	(void)write(fd, buf, n);
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	while (got < sizeof(a)) {
		ssize_t r = read(fd, a + got, sizeof(a) - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got < sizeof(a)) {
		answer("RAW closed");
		return;
	}
	snprintf(out, sizeof(out), "RAW status=%u len=%u", a[4],
		 ((unsigned)a[0] << 24 | (unsigned)a[1] << 16 | (unsigned)a[2] << 8 | a[3]) - 1);
	answer(out);
}

static void cmd_ls(void)
{
	DIR *d = opendir("/dev/cloister");
	char names[8][260];
	int n = 0;
	struct dirent *de;
	if (!d) {
		snprintf(out, sizeof(out), "LS error=%s", errno == ENOENT ? "ENOENT" : strerror(errno));
		answer(out);
		return;
	}
	while ((de = readdir(d)) && n < 8)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++) /* sorted: readdir's order is the file system's */
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[i], names[j]) > 0) {
				char t[260];
				memcpy(t, names[i], sizeof(t)), memcpy(names[i], names[j], sizeof(t)), memcpy(names[j], t, sizeof(t));
			}
	snprintf(out, sizeof(out), "LS");
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), " %s", names[i]);
	answer(out);
}

/* STATEPATH, STATEPUT NAME TEXT, STATEGET NAME: files under cle_state_path() */
static void cmd_state(const char *cmd, char *arg)
{
	const char *dir = cle_state_path(), *text = "";
	char path[512];
	struct stat st;
	if (!dir) {
		fail(cmd, CLE_EIO);
		return;
	}
	if (!strcmp(cmd, "STATEPATH")) {
		if (stat(dir, &st) != 0)
			snprintf(out, sizeof(out), "STATEPATH error stat %d", errno);
		else
			snprintf(out, sizeof(out), "STATEPATH ok %s %o", dir, (unsigned)(st.st_mode & 07777));
		answer(out);
		return;
	}
	char *sp = strchr(arg, ' ');
	if (sp) {
		*sp = '\0';
		text = sp + 1;
	}
	if (!*arg || strchr(arg, '/') || snprintf(path, sizeof(path), "%s/%s", dir, arg) >= (int)sizeof(path)) {
		snprintf(out, sizeof(out), "%s error bad name", cmd);
		answer(out);
		return;
	}
	FILE *f = fopen(path, !strcmp(cmd, "STATEPUT") ? "w" : "r");
	if (!f) {
		snprintf(out, sizeof(out), "%s error open %d", cmd, errno);
		answer(out);
		return;
	}
	if (!strcmp(cmd, "STATEPUT")) {
		int bad = fputs(text, f) < 0;
		bad |= fclose(f) != 0;
		snprintf(out, sizeof(out), bad ? "STATEPUT error write" : "STATEPUT ok");
	} else {
		int k = snprintf(out, sizeof(out), "STATEGET ok ");
		size_t n = fread(out + k, 1, sizeof(out) - (size_t)k - 1, f);
		out[k + (int)n] = '\0';
		fclose(f);
	}
	answer(out);
}

int main(void)
{
	size_t len;
	for (;;) {
		cle_err e = cle_chan_read_line(line, sizeof(line), &len);
		if (e == CLE_EIO)
			return 0;
		if (e != CLE_OK) {
			answer("error line too long");
			continue;
		}
		if (!strncmp(line, "ATTEST ", 7))
			cmd_attest(line + 7);
		else if (!strncmp(line, "SEALKEY ", 8)) {
			uint8_t k[CLE_SEAL_KEY_LEN];
			char h[65];
			e = cle_seal_key(line + 8, k);
			if (e != CLE_OK) {
				fail("SEALKEY", e);
				continue;
			}
			hex(k, sizeof(k), h);
			snprintf(out, sizeof(out), "SEALKEY ok %s", h);
			answer(out);
		} else if (!strncmp(line, "SEAL ", 5))
			cmd_seal(line + 5, 0);
		else if (!strncmp(line, "UNSEAL ", 7))
			cmd_seal(line + 7, 1);
		else if (!strncmp(line, "BURST ", 6))
			cmd_burst(line + 6);
		else if (!strncmp(line, "CONNECT ", 8))
			cmd_connect(line + 8);
		else if (!strncmp(line, "RAW ", 4))
			cmd_raw(line + 4);
		else if (!strcmp(line, "LS"))
			cmd_ls();
		else if (!strcmp(line, "STATEPATH"))
			cmd_state("STATEPATH", line + 9);
		else if (!strncmp(line, "STATEPUT ", 9))
			cmd_state("STATEPUT", line + 9);
		else if (!strncmp(line, "STATEGET ", 9))
			cmd_state("STATEGET", line + 9);
		else
			answer("error unknown command");
	}
}
