/* Unit tests for a guest's network (src/sandbox/sandbox_net*.c): the /30
 * pool, and the veth plumbing of real network namespaces.
 *
 * Topology of the plumbing tests (the whole test process first moves into a
 * network namespace of its own, "host", with ip_forward=1 so that only the
 * per-interface settings keep guests apart):
 *
 *     host netns (this process)
 *      clg0 10.77.0.1/30 ──veth── eth0 10.77.0.2/30   guest A (child, unshare -n)
 *      clg1 10.77.0.5/30 ──veth── eth0 10.77.0.6/30   guest B (child, unshare -n)
 *
 * Sockets inside a guest are opened by a thread that setns()es into it; a
 * socket keeps its namespace, so the test drives both sides from here. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox_net.h"

/* ---- the pool ---- */

static const char *addr_str(struct in_addr a)
{
	static char s[4][INET_ADDRSTRLEN];
	static int i;
	i = (i + 1) % 4;
	inet_ntop(AF_INET, &a, s[i], sizeof(s[i]));
	return s[i];
}

static void pool_parse(void **state)
{
	static cl_net_pool p;
	assert_int_equal(cl_net_pool_init(&p, CL_NET_POOL_DEFAULT), CL_OK);
	assert_int_equal(p.nslots, 16384);
	assert_int_equal(cl_net_pool_init(&p, "192.168.8.0/30"), CL_OK);
	assert_int_equal(p.nslots, 1);
	const char *bad[] = {"",	      "10.77.0.0",	"10.77.0.0/",	  "10.77.0.0/15", "10.77.0.0/31",
			     "10.77.0.1/16", "10.77.0.0/16x",	"10.77.0.0/+16",  "10.77/16",	  "010.77.0.0/16",
			     "0x0a.77.0.0/16", "10.77.0.0/016", "10.77.0.0 /16", "/16",		  "10.77.0.0/-1",
			     "256.0.0.0/16", "10.77.0.0/16/16", "10.77.0.0/99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cl_net_pool_init(&p, bad[i]), CL_EINVAL);
		assert_int_equal(p.nslots, 0);
		cl_net_link l;
		assert_int_equal(cl_net_pool_alloc(&p, &l), CL_EUNAVAIL);
	}
	assert_int_equal(cl_net_pool_init(&p, NULL), CL_EINVAL);
}

static void pool_alloc(void **state)
{
	static cl_net_pool p;
	cl_net_link l;
	assert_int_equal(cl_net_pool_init(&p, "10.77.0.0/16"), CL_OK);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
		assert_int_equal(l.slot, i);
	}
	/* slot 1: clg1, 10.77.0.5 / 10.77.0.6, /30 */
	assert_int_equal(cl_net_pool_link(&p, 1, &l), CL_OK);
	assert_string_equal(l.host_if, "clg1");
	assert_string_equal(l.guest_if, "eth0");
	assert_string_equal(addr_str(l.host_addr), "10.77.0.5");
	assert_string_equal(addr_str(l.guest_addr), "10.77.0.6");
	assert_int_equal(l.prefix, 30);
	/* the last slot of a /16 still fits IFNAMSIZ */
	assert_int_equal(cl_net_pool_link(&p, 16383, &l), CL_OK);
	assert_string_equal(l.host_if, "clg16383");
	assert_string_equal(addr_str(l.host_addr), "10.77.255.253");
	assert_string_equal(addr_str(l.guest_addr), "10.77.255.254");
	assert_int_equal(cl_net_pool_link(&p, 16384, &l), CL_EINVAL);
	/* released slots come back lowest first; no reuse while in use */
	assert_int_equal(cl_net_pool_release(&p, 1), CL_OK);
	assert_int_equal(cl_net_pool_release(&p, 1), CL_ENOTFOUND);
	assert_int_equal(p.in_use, 2);
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
	assert_int_equal(l.slot, 1);
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
	assert_int_equal(l.slot, 3);
	assert_int_equal(cl_net_pool_release(&p, 99999), CL_EINVAL);
}

static void pool_exhausted(void **state)
{
	static cl_net_pool p;
	cl_net_link l;
	assert_int_equal(cl_net_pool_init(&p, "10.77.0.0/29"), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_EUNAVAIL);
	assert_non_null(strstr(cl_error_detail(), "10.77.0.0/29 exhausted (2 guests)"));
	assert_int_equal(l.host_if[0], '\0');
	assert_int_equal(p.in_use, 2);
	assert_int_equal(cl_net_pool_release(&p, 0), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
	assert_int_equal(l.slot, 0);
}

static void pool_rebuild(void **state)
{
	/* At start the agent claims the slots of its live sandboxes. */
	static cl_net_pool p;
	cl_net_link l;
	assert_int_equal(cl_net_pool_init(&p, "10.77.0.0/28"), CL_OK);
	assert_int_equal(cl_net_pool_claim(&p, 2, &l), CL_OK);
	assert_string_equal(l.host_if, "clg2");
	assert_int_equal(cl_net_pool_claim(&p, 2, &l), CL_ECONFLICT);
	assert_int_equal(cl_net_pool_claim(&p, 4, &l), CL_EINVAL);
	assert_int_equal(p.in_use, 1);
	uint32_t want[] = {0, 1, 3};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(cl_net_pool_alloc(&p, &l), CL_OK);
		assert_int_equal(l.slot, want[i]);
	}
	assert_int_equal(cl_net_pool_alloc(&p, &l), CL_EUNAVAIL);
}

/* ---- plumbing ---- */

typedef struct guest {
	pid_t pid; /* a child alone in a new network namespace, until killed */
} guest;

static bool have_netns;

static void guest_start(guest *g)
{
	int ready[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	g->pid = fork();
	assert_true(g->pid >= 0);
	if (g->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(c, 'y');
}

static void guest_stop(guest *g)
{
	int st;
	assert_int_equal(kill(g->pid, SIGKILL), 0);
	assert_int_equal(waitpid(g->pid, &st, 0), g->pid);
}

typedef struct ns_sock_arg {
	pid_t pid;
	int type;
	int fd;
} ns_sock_arg;

static void *ns_sock_thread(void *arg)
{
	ns_sock_arg *a = arg;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)a->pid);
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns >= 0 && setns(ns, CLONE_NEWNET) == 0)
		a->fd = socket(AF_INET, a->type | SOCK_CLOEXEC, 0);
	if (ns >= 0)
		close(ns);
	return NULL;
}

/* A socket inside guest g's namespace. */
static int sock_in(const guest *g, int type)
{
	ns_sock_arg a = {.pid = g->pid, .type = type, .fd = -1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ns_sock_thread, &a), 0);
	pthread_join(t, NULL);
	assert_true(a.fd >= 0);
	return a.fd;
}

/* Index of interface `name` in g's namespace (host's if g is NULL), 0 if none. */
static int ifindex_in(const guest *g, const char *name)
{
	int s = g ? sock_in(g, SOCK_DGRAM) : socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int r = ioctl(s, SIOCGIFINDEX, &ifr) == 0 ? ifr.ifr_ifindex : 0;
	close(s);
	return r;
}

/* Listens on addr:any-port with socket fd (made where the listener lives). */
static uint16_t listen_on(int fd, struct in_addr addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = addr};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	socklen_t n = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
	return ntohs(sa.sin_port);
}

/* Connects fd to addr:port within a deadline; 0 or the errno (ETIMEDOUT). */
static int connect_within(int fd, struct in_addr addr, uint16_t port, int ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port)};
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, ms) != 1)
		return ETIMEDOUT;
	int e = 0;
	socklen_t n = sizeof(e);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &n), 0);
	return e;
}

/* client (already made in its namespace) reaches listener lfd at addr:port,
 * and a byte crosses both ways; the accepted peer address is returned. */
static struct in_addr reach(int client, int lfd, struct in_addr addr, uint16_t port)
{
	assert_int_equal(connect_within(client, addr, port, 5000), 0);
	struct sockaddr_in peer;
	socklen_t n = sizeof(peer);
	int a = accept4(lfd, (struct sockaddr *)&peer, &n, SOCK_CLOEXEC);
	assert_true(a >= 0);
	fcntl(client, F_SETFL, fcntl(client, F_GETFL) & ~O_NONBLOCK);
	char c = 'x';
	assert_int_equal(write(client, "p", 1), 1);
	assert_int_equal(read(a, &c, 1), 1);
	assert_int_equal(c, 'p');
	assert_int_equal(write(a, "q", 1), 1);
	assert_int_equal(read(client, &c, 1), 1);
	assert_int_equal(c, 'q');
	close(a);
	close(client);
	return peer.sin_addr;
}

/* Before each plumbing test, this process becomes a fresh "host": a network
 * namespace of its own (nothing a failed test left behind), forwarding on. */
static int host_setup(void **state)
{
	static bool tried;
	if (unshare(CLONE_NEWNET) != 0) {
		if (tried)
			return -1; /* it worked before: an error now, not a skip */
		tried = true;
		fprintf(stderr, "# no network namespace (%s): plumbing tests skipped\n", strerror(errno));
		return 0;
	}
	tried = have_netns = true;
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		return -1;
	close(fd);
	return 0;
}

static void plumb_reach_and_isolate(void **state)
{
	if (!have_netns)
		skip();
	static cl_net_pool p;
	cl_net_link la, lb;
	guest a, b;
	assert_int_equal(cl_net_pool_init(&p, CL_NET_POOL_DEFAULT), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &la), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &lb), CL_OK);
	guest_start(&a);
	guest_start(&b);
	assert_int_equal(cl_net_plumb(a.pid, &la), CL_OK);
	assert_int_equal(cl_net_plumb(b.pid, &lb), CL_OK);
	assert_true(ifindex_in(NULL, "clg0") > 0);
	assert_true(ifindex_in(&a, "eth0") > 0);
	struct in_addr any = {.s_addr = htonl(INADDR_ANY)};

	/* host -> guest A's listener at A's address; the peer is A's host end */
	int la_fd = sock_in(&a, SOCK_STREAM);
	uint16_t pa = listen_on(la_fd, any);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_string_equal(addr_str(reach(c, la_fd, la.guest_addr, pa)), addr_str(la.host_addr));

	/* guest A -> host listener at A's host end; the peer is A's address */
	int h_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t ph = listen_on(h_fd, any);
	assert_string_equal(addr_str(reach(sock_in(&a, SOCK_STREAM), h_fd, la.host_addr, ph)),
			    addr_str(la.guest_addr));
	/* ... and a host address off A's /30: only the default route gets there */
	reach(sock_in(&a, SOCK_STREAM), h_fd, lb.host_addr, ph);

	/* B is up and listening (the host reaches it) ... */
	int lb_fd = sock_in(&b, SOCK_STREAM);
	uint16_t pb = listen_on(lb_fd, any);
	reach(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), lb_fd, lb.guest_addr, pb);
	/* ... but A cannot reach B, nor B A, though the host forwards */
	c = sock_in(&a, SOCK_STREAM);
	assert_int_not_equal(connect_within(c, lb.guest_addr, pb, 2000), 0);
	close(c);
	c = sock_in(&b, SOCK_STREAM);
	assert_int_not_equal(connect_within(c, la.guest_addr, pa, 2000), 0);
	close(c);
	close(la_fd);
	close(lb_fd);
	close(h_fd);

	/* teardown leaves no interface on either side; again is fine */
	assert_int_equal(cl_net_unplumb(&la), CL_OK);
	assert_int_equal(cl_net_unplumb(&lb), CL_OK);
	assert_int_equal(ifindex_in(NULL, "clg0"), 0);
	assert_int_equal(ifindex_in(NULL, "clg1"), 0);
	assert_int_equal(ifindex_in(&a, "eth0"), 0);
	assert_int_equal(ifindex_in(&b, "eth0"), 0);
	assert_int_equal(cl_net_unplumb(&la), CL_OK);
	assert_int_equal(cl_net_pool_release(&p, la.slot), CL_OK);
	assert_int_equal(cl_net_pool_release(&p, lb.slot), CL_OK);
	guest_stop(&a);
	guest_stop(&b);
}

static void plumb_hostile(void **state)
{
	if (!have_netns)
		skip();
	static cl_net_pool p;
	cl_net_link l0, l1, l2;
	guest a, b;
	assert_int_equal(cl_net_pool_init(&p, CL_NET_POOL_DEFAULT), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l0), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l1), CL_OK);
	assert_int_equal(cl_net_pool_alloc(&p, &l2), CL_OK);
	guest_start(&a);
	guest_start(&b);
	assert_int_equal(cl_net_plumb(a.pid, &l0), CL_OK);
	int idx = ifindex_in(NULL, "clg0");

	/* clg0 taken: B gets a clear conflict, no eth0, and A's pair is untouched */
	assert_int_equal(cl_net_plumb(b.pid, &l0), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "clg0"));
	assert_int_equal(ifindex_in(&b, "eth0"), 0);
	assert_int_equal(ifindex_in(NULL, "clg0"), idx);
	int lfd = sock_in(&a, SOCK_STREAM);
	struct in_addr any = {.s_addr = htonl(INADDR_ANY)};
	uint16_t port = listen_on(lfd, any);
	reach(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), lfd, l0.guest_addr, port);
	close(lfd);

	/* A already has eth0: conflict, and no clg1 left behind */
	assert_int_equal(cl_net_plumb(a.pid, &l1), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "eth0"));
	assert_int_equal(ifindex_in(NULL, "clg1"), 0);

	/* the host's own namespace is refused, nothing created */
	assert_int_equal(cl_net_plumb(getpid(), &l2), CL_EINVAL);
	assert_int_equal(ifindex_in(NULL, "clg2"), 0);
	assert_int_equal(ifindex_in(NULL, "eth0"), 0);

	/* a sandbox that is gone */
	guest_stop(&b);
	assert_int_equal(cl_net_plumb(b.pid, &l2), CL_ENOTFOUND);
	assert_int_equal(ifindex_in(NULL, "clg2"), 0);

	/* malformed link */
	cl_net_link bad = l2;
	memcpy(bad.host_if, "../x", 5);
	assert_int_equal(cl_net_plumb(a.pid, &bad), CL_EINVAL);

	/* the namespace dying takes the pair with it; unplumb is then a no-op */
	guest_stop(&a);
	for (int i = 0; i < 500 && ifindex_in(NULL, "clg0"); i++)
		usleep(10000); /* wait_for: the kernel frees the netns asynchronously */
	assert_int_equal(ifindex_in(NULL, "clg0"), 0);
	assert_int_equal(cl_net_unplumb(&l0), CL_OK);
}

int main(void)
{
	const struct CMUnitTest pool[] = {
		cmocka_unit_test(pool_parse),
		cmocka_unit_test(pool_alloc),
		cmocka_unit_test(pool_exhausted),
		cmocka_unit_test(pool_rebuild),
	};
	const struct CMUnitTest plumb[] = {
		cmocka_unit_test_setup(plumb_reach_and_isolate, host_setup),
		cmocka_unit_test_setup(plumb_hostile, host_setup),
	};
	int r = cmocka_run_group_tests_name("net_pool", pool, NULL, NULL);
	return r + cmocka_run_group_tests_name("net_plumb", plumb, NULL, NULL);
}
