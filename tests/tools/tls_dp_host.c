/* tls_dp_host — a host in miniature for the TLS data plane's tests
 * (tests/integration/tls_dataplane.sh): a real key holder (key directory
 * DIR/keys) with an agent channel and a tls channel, and a real data plane
 * (cl_dataplane_main, walls up) on that tls channel, driven by line commands
 * on stdin; one answer line each on stdout. A test program, never installed.
 *
 *   generate SLOT PEM            key holder: generate SLOT, its public key to PEM
 *   listen                       a listening socket on 127.0.0.1:0 -> "port N"
 *   set ID GEN CHAIN BACKEND [HEADER|- [all|auto [allow|reject]]]   cl_dp_guest_set
 *                                with the sockets of the `listen`s since the
 *                                last set -> "ok" / "error NAME"
 *   remove ID                    -> "ok" / "error NAME"
 *   stats ID                     -> "connections=N active=N full=N resumed=N signs=N
 *                                    bytes_in=N bytes_out=N fail_<reason>=N..."
 *   pids                         -> "keyholder=PID dataplane=PID"
 *   quit                         closes the agent's channels, waits -> "exit dataplane=S keyholder=S"
 *
 * Environment: DP_HANDSHAKE_MS, DP_IDLE_MS, DP_MAX_CONNS_GUEST, DP_SIGN_TIMEOUT_MS,
 * DP_TICKET_ROTATE_S (the data
 * plane's limits, for tests that must not wait 10 s), DP_SECCOMP=errno. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"
#include "common/util.h"
#include "keyholder/keyholder.h"
#include "tls/dataplane.h"

static unsigned env_uint(const char *name)
{
	const char *v = getenv(name);
	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

static int write_pubkey(const uint8_t point[CL_KH_P256_POINT_LEN], const char *path)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, CL_KH_P256_POINT_LEN),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	FILE *f = NULL;
	int ok = pc && EVP_PKEY_fromdata_init(pc) == 1 && EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params) == 1 &&
		 (f = fopen(path, "w")) && PEM_write_PUBKEY(f, pk) == 1;
	if (f && fclose(f) != 0)
		ok = 0;
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

static int listen_local(unsigned *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void print_stats(const cl_dp_stats *s)
{
	printf("connections=%llu active=%llu full=%llu resumed=%llu signs=%llu bytes_in=%llu bytes_out=%llu "
	       "insecure_passed=%llu",
	       (unsigned long long)s->connections, (unsigned long long)s->active,
	       (unsigned long long)s->handshakes_full, (unsigned long long)s->handshakes_resumed,
	       (unsigned long long)s->signs, (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	       (unsigned long long)s->insecure_passed);
	for (int i = 0; i < CL_DP_FAIL_COUNT; i++)
		printf(" fail_%s=%llu", cl_dp_fail_name((enum cl_dp_fail)i), (unsigned long long)s->failures[i]);
	printf("\n");
}

static int status_of(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	int kh_agent[2], kh_tls[2], dp_agent[2];
	char keys[4096], line[8192];
	int pending[CL_DP_LISTENERS_MAX];
	size_t npending = 0;
	if (argc != 2) {
		fprintf(stderr, "usage: tls_dp_host DIR\n");
		return 2;
	}
	cl_log_init("tls_dp_host", CL_LOG_INFO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	snprintf(keys, sizeof(keys), "%s/keys", argv[1]);
	if (mkdir(keys, 0700) != 0 && errno != EEXIST)
		return 1;
	if (cl_ipc_pair(kh_agent) != CL_OK || cl_ipc_pair(kh_tls) != CL_OK || cl_ipc_pair(dp_agent) != CL_OK)
		return 1;
	fflush(NULL);
	pid_t khpid = fork();
	if (khpid == 0) {
		const int extra[] = {kh_tls[1]};
		const enum cl_kh_role roles[] = {CL_KH_ROLE_TLS};
		cl_kh_main_opts o = {.extra_fds = extra, .extra_roles = roles, .nextra = 1};
		if (getenv("DP_NO_SECRETMEM"))
			o.open_flags = CL_KH_OPEN_NO_SECRETMEM;
		_exit(cl_keyholder_main(kh_agent[1], keys, &o));
	}
	close(kh_agent[1]);
	close(kh_tls[1]);
	pid_t dppid = fork();
	if (dppid == 0) {
		cl_dp_opts o = {.handshake_ms = env_uint("DP_HANDSHAKE_MS"),
				.idle_ms = env_uint("DP_IDLE_MS"),
				.max_conns_guest = env_uint("DP_MAX_CONNS_GUEST"),
				.sign_timeout_ms = env_uint("DP_SIGN_TIMEOUT_MS"),
				.ticket_rotate_s = env_uint("DP_TICKET_ROTATE_S")};
		const char *sc = getenv("DP_SECCOMP");
		if (sc && strcmp(sc, "errno") == 0)
			o.on_violation = CL_SECCOMP_ERRNO;
		_exit(cl_dataplane_main(dp_agent[1], kh_tls[0], &o));
	}
	close(dp_agent[1]);
	close(kh_tls[0]);
	if (khpid < 0 || dppid < 0)
		return 1;
	cl_kh_client kh;
	cl_dp_client dpc;
	cl_kh_client_init(&kh, kh_agent[0], 5000);
	cl_dp_client_init(&dpc, dp_agent[0], 5000);
	while (fgets(line, sizeof(line), stdin)) {
		char *save = NULL, *cmd = strtok_r(line, " \t\r\n", &save);
		char *a[7] = {0};
		for (int i = 0; i < 7; i++)
			a[i] = strtok_r(NULL, " \t\r\n", &save);
		if (!cmd)
			continue;
		cl_err err = CL_OK;
		if (strcmp(cmd, "generate") == 0 && a[1]) {
			/* a guest key as the agent has it made: tls-generate (P-256) */
			uint8_t point[CL_KH_P256_POINT_LEN], proof[CL_KH_P256_SIG_LEN];
			err = cl_kh_tls_generate(&kh, a[0], "host-test", point, proof);
			if (err == CL_OK && write_pubkey(point, a[1]) != 0)
				err = CL_EIO;
			err == CL_OK ? printf("ok\n") : printf("error %s\n", cl_err_name(err));
		} else if (strcmp(cmd, "listen") == 0) {
			unsigned port = 0;
			int fd = npending < CL_DP_LISTENERS_MAX ? listen_local(&port) : -1;
			if (fd < 0) {
				printf("error listen\n");
				continue;
			}
			pending[npending++] = fd;
			printf("port %u\n", port);
		} else if (strcmp(cmd, "set") == 0 && a[3]) {
			cl_buf chain;
			cl_dp_guest g = {.listeners = pending, .nlisteners = npending};
			cl_buf_init(&chain, CL_DP_CHAIN_MAX);
			snprintf(g.id, sizeof(g.id), "%s", a[0]);
			g.gen = (uint32_t)strtoul(a[1], NULL, 10);
			snprintf(g.backend, sizeof(g.backend), "%s", a[3]);
			snprintf(g.header, sizeof(g.header), "%s", a[4] && strcmp(a[4], "-") != 0 ? a[4] : "");
			g.mode = a[5] && strcmp(a[5], "auto") == 0 ? CL_DP_MODE_AUTO : CL_DP_MODE_ALL;
			g.insecure = a[6] && strcmp(a[6], "allow") == 0 ? CL_DP_INSECURE_ALLOW : CL_DP_INSECURE_REJECT;
			err = cl_file_read(a[2], CL_DP_CHAIN_MAX, &chain);
			if (err == CL_OK) {
				g.chain_pem = (const char *)chain.data;
				g.chain_len = chain.len;
				err = cl_dp_guest_set(&dpc, &g);
			}
			cl_buf_free(&chain);
			for (size_t i = 0; i < npending; i++)
				close(pending[i]); /* the data plane has its own copies */
			npending = 0;
			err == CL_OK ? printf("ok\n") : printf("error %s\n", cl_err_name(err));
		} else if (strcmp(cmd, "remove") == 0 && a[0]) {
			err = cl_dp_guest_remove(&dpc, a[0]);
			err == CL_OK ? printf("ok\n") : printf("error %s\n", cl_err_name(err));
		} else if (strcmp(cmd, "stats") == 0 && a[0]) {
			cl_dp_stats s;
			err = cl_dp_stats_get(&dpc, a[0], &s);
			if (err == CL_OK)
				print_stats(&s);
			else
				printf("error %s\n", cl_err_name(err));
		} else if (strcmp(cmd, "pids") == 0) {
			printf("keyholder=%d dataplane=%d\n", (int)khpid, (int)dppid);
		} else if (strcmp(cmd, "quit") == 0) {
			break;
		} else {
			printf("error usage\n");
		}
	}
	close(dp_agent[0]);
	int dps = status_of(dppid);
	close(kh_agent[0]);
	int khs = status_of(khpid);
	printf("exit dataplane=%d keyholder=%d\n", dps, khs);
	return 0;
}
