/* fwclient — a static program run inside an enclave to talk to the firmware
 * guard's guest interface (docs/guest-interface.md) at /dev/cloister/fw.sock.
 * Used by tests/unit/test_guestif.c and tests/integration/host_fw_guest.sh.
 *
 *   fwclient [SOCKET]      reads one command per line on stdin, answers one
 *                          line on stdout:
 *     LIST, READ ..., WRITE ...   sent as is on one connection (opened on
 *                                 first use, re-opened once if the server
 *                                 closed it); prints the server's answer line
 *     CONNECT                     "CONNECT ok" or "CONNECT error=<errno name>"
 *     CLOSE                       closes the connection: "CLOSE ok"
 *     TOUCH                       tries to create /dev/cloister/probe-file:
 *                                 "TOUCH error=<errno name>" or "TOUCH created"
 *     LS                          "LS name..." of /dev/cloister, sorted
 *     MOUNT                       "MOUNT <options>" of /dev/cloister's mount
 *                                 (from /proc/self/mountinfo) or "MOUNT none"
 *
 * It reports raw facts; the tests decide what is acceptable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DIR_PATH "/dev/cloister"

static const char *sock_path = DIR_PATH "/fw.sock";
static int conn = -1;

static const char *errname(int e)
{
	switch (e) {
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EEXIST: return "EEXIST";
	case EPIPE: return "EPIPE";
	case ECONNRESET: return "ECONNRESET";
	default: return "other";
	}
}

static void out_line(const char *s)
{
	printf("%s\n", s);
	fflush(stdout);
}

static int do_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(s);
		return -e;
	}
	conn = s;
	return 0;
}

/* Sends line + '\n' and reads one answer line into ans; -errno or 0 on EOF. */
static int exchange(const char *line, char *ans, size_t cap)
{
	size_t n = strlen(line);
	char req[2048];
	if (n + 1 > sizeof(req))
		return -E2BIG;
	memcpy(req, line, n);
	req[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = send(conn, req + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	size_t got = 0;
	while (got < cap - 1) {
		ssize_t r = recv(conn, ans + got, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		if (ans[got] == '\n')
			break;
		got++;
	}
	ans[got] = '\0';
	return 1;
}

static void cmd_request(const char *line)
{
	char ans[8192];
	for (int attempt = 0; attempt < 2; attempt++) {
		if (conn < 0) {
			int e = do_connect();
			if (e < 0) {
				printf("CONNECT error=%s\n", errname(-e));
				fflush(stdout);
				return;
			}
		}
		int r = exchange(line, ans, sizeof(ans));
		if (r > 0) {
			out_line(ans);
			return;
		}
		close(conn); /* closed by the server (idle, restart): once more */
		conn = -1;
		if (r < 0 && attempt == 1) {
			printf("SEND error=%s\n", errname(-r));
			fflush(stdout);
			return;
		}
	}
	out_line("EOF");
}

static void cmd_touch(void)
{
	int fd = open(DIR_PATH "/probe-file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		out_line("TOUCH created");
		return;
	}
	printf("TOUCH error=%s\n", errname(errno));
	fflush(stdout);
}

static void cmd_ls(void)
{
	DIR *d = opendir(DIR_PATH);
	if (!d) {
		printf("LS error=%s\n", errname(errno));
		fflush(stdout);
		return;
	}
	char names[16][256];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 16)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			snprintf(names[n++], sizeof(names[0]), "%.255s", de->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
	printf("LS");
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
	fflush(stdout);
}

/* mountinfo: id parent major:minor root mountpoint options ... */
static void cmd_mount(void)
{
	char line[4096], root[2048], point[2048], opts[512];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f) {
		printf("MOUNT error=%s\n", errname(errno));
		fflush(stdout);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %*s %2047s %2047s %511s", root, point, opts) == 3 && !strcmp(point, DIR_PATH)) {
			printf("MOUNT %s\n", opts);
			fflush(stdout);
			fclose(f);
			return;
		}
	}
	fclose(f);
	out_line("MOUNT none");
}

int main(int argc, char **argv)
{
	char line[4096];
	if (argc >= 2)
		sock_path = argv[1];
	fprintf(stderr, "fwclient: ready socket=%s\n", sock_path);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!strcmp(line, "TOUCH")) {
			cmd_touch();
		} else if (!strcmp(line, "LS")) {
			cmd_ls();
		} else if (!strcmp(line, "MOUNT")) {
			cmd_mount();
		} else if (!strcmp(line, "CLOSE")) {
			if (conn >= 0)
				close(conn);
			conn = -1;
			out_line("CLOSE ok");
		} else if (!strcmp(line, "CONNECT")) {
			if (conn >= 0)
				close(conn);
			conn = -1;
			int e = do_connect();
			if (e < 0)
				printf("CONNECT error=%s\n", errname(-e));
			else
				printf("CONNECT ok\n");
			fflush(stdout);
		} else if (line[0]) {
			cmd_request(line);
		}
	}
	return 0;
}
