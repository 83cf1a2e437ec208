/* sandbox_net.c — plumbs a sandbox's network namespace to the host over
 * rtnetlink (libmnl): veth pair, addresses, links up, the guest's default
 * route; and tears it down (sandbox_net.h). The whole sequence is
 * cl_net_plumb; each step fails closed and the pair is deleted on error. */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox_net.h"

/* A request here is a few attributes (the veth one, the largest, ~100
 * bytes); an answer is an ack or an error echoing the request. */
#define NL_MSG_SIZE 512
#define NL_RECV_SIZE 8192

/* One rtnetlink socket, bound in the namespace it was opened in. */
typedef struct nl_sock {
	struct mnl_socket *nl;
	unsigned seq;
	int ctl; /* AF_INET datagram socket of the same namespace, for SIOCGIFINDEX */
} nl_sock;

static cl_err nl_errno(int e, const char *what, const char *name)
{
	switch (e) {
	case EEXIST:
		return cl_errorf(CL_ECONFLICT, "network: %s: interface %s (or its peer) already exists", what, name);
	case EPERM:
	case EACCES:
		return cl_errorf(CL_EPERM, "network: %s %s: not permitted (needs CAP_NET_ADMIN)", what, name);
	case ENODEV:
		return cl_errorf(CL_ENOTFOUND, "network: %s: no interface %s", what, name);
	default:
		return cl_errorf(CL_ESYS, "network: %s %s: %s", what, name, strerror(e));
	}
}

static void nl_close(nl_sock *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	if (s->ctl >= 0)
		close(s->ctl);
	s->nl = NULL;
	s->ctl = -1;
}

/* Opens both sockets in the calling thread's current namespace. */
static int nl_open_here(nl_sock *s)
{
	s->nl = NULL;
	s->ctl = -1;
	s->seq = (unsigned)time(NULL);
	s->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	s->ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->ctl < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	nl_close(s);
	return e ? e : EIO;
}

/* Sends one request with NLM_F_ACK and waits for its acknowledgement;
 * returns 0 or the kernel's errno. */
static int nl_call(nl_sock *s, struct nlmsghdr *nlh)
{
	char buf[NL_RECV_SIZE];
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++s->seq;
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return errno ? errno : EIO;
	unsigned portid = mnl_socket_get_portid(s->nl);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0)
			return errno ? errno : EIO;
		int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, NULL, NULL);
		if (r == MNL_CB_ERROR)
			return errno ? errno : EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static int if_index(const nl_sock *s, const char *name, int *index)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(s->ctl, SIOCGIFINDEX, &ifr) < 0)
		return errno;
	*index = ifr.ifr_ifindex;
	return 0;
}

static struct nlmsghdr *msg_start(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

/* veth host_if <-> guest_if, the guest end created inside netns_fd. */
static int veth_create(nl_sock *s, const cl_net_link *l, int netns_fd)
{
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, l->host_if);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, l->guest_if);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_call(s, nlh);
}

static int link_up(nl_sock *s, int index)
{
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_call(s, nlh);
}

static int addr_add(nl_sock *s, int index, struct in_addr a, uint8_t prefix)
{
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(a), &a);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(a), &a);
	return nl_call(s, nlh);
}

static int default_route(nl_sock *s, int index, struct in_addr gw)
{
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_GATEWAY, sizeof(gw), &gw);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
	return nl_call(s, nlh);
}

static int link_delete(nl_sock *s, const char *name)
{
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_call(s, nlh);
}

/* /proc/sys/net/IPV/conf/IF/KEY := val (the caller's namespace). */
static cl_err conf_write(const char *ipv, const char *ifname, const char *key, const char *val)
{
	char path[128];
	int n = snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", ipv, ifname, key);
	CL_ENSURE(n > 0 && (size_t)n < sizeof(path), CL_EINVAL, "network: interface name too long");
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && strcmp(ipv, "ipv6") == 0)
		return CL_OK; /* IPv6 disabled on this host: nothing to turn off */
	CL_ENSURE(fd >= 0, CL_ESYS, "network: open %s: %s", path, strerror(errno));
	ssize_t w = write(fd, val, strlen(val));
	int e = errno;
	close(fd);
	CL_ENSURE(w == (ssize_t)strlen(val), CL_ESYS, "network: write %s: %s", path, strerror(e));
	return CL_OK;
}

/* The host end may neither route a guest's packets on (guests never reach
 * each other) nor accept a spoofed source; no IPv6 on it. */
static cl_err host_end_harden(const char *ifname)
{
	CL_GUARD(conf_write("ipv4", ifname, "forwarding", "0"));
	CL_GUARD(conf_write("ipv4", ifname, "rp_filter", "1"));
	CL_GUARD(conf_write("ipv4", ifname, "accept_local", "0"));
	CL_GUARD(conf_write("ipv6", ifname, "disable_ipv6", "1"));
	return CL_OK;
}

typedef struct ns_open_arg {
	int netns_fd;
	nl_sock *s;
	int err;
} ns_open_arg;

/* Runs in a thread of its own: enters the namespace (only this thread
 * moves), opens the sockets there, exits. Sockets keep their namespace. */
static void *ns_open_thread(void *arg)
{
	ns_open_arg *a = arg;
	a->err = setns(a->netns_fd, CLONE_NEWNET) == 0 ? nl_open_here(a->s) : errno;
	return NULL;
}

static cl_err nl_open_in(int netns_fd, nl_sock *s)
{
	ns_open_arg a = {.netns_fd = netns_fd, .s = s, .err = 0};
	pthread_t t;
	s->nl = NULL;
	s->ctl = -1;
	int r = pthread_create(&t, NULL, ns_open_thread, &a);
	CL_ENSURE(r == 0, CL_ESYS, "network: thread: %s", strerror(r));
	pthread_join(t, NULL);
	CL_ENSURE(a.err == 0, a.err == EPERM ? CL_EPERM : CL_ESYS, "network: sockets in the sandbox's namespace: %s",
		  strerror(a.err));
	return CL_OK;
}

/* Opens /proc/PID/ns/net; refuses the caller's own namespace (a wrong pid
 * must never put eth0 and a default route into the host). */
static cl_err netns_open(pid_t pid, int *fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	CL_ENSURE(pid > 0, CL_EINVAL, "network: no sandbox pid");
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	CL_ENSURE(*fd >= 0, errno == ENOENT || errno == ESRCH ? CL_ENOTFOUND : CL_ESYS,
		  "network: namespace of process %d: %s", (int)pid, strerror(errno));
	struct stat theirs, ours;
	if (fstat(*fd, &theirs) < 0 || stat("/proc/thread-self/ns/net", &ours) < 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		return cl_errorf(CL_ESYS, "network: stat namespace: %s", strerror(e));
	}
	if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) {
		close(*fd);
		*fd = -1;
		return cl_errorf(CL_EINVAL, "network: process %d shares the host's network namespace", (int)pid);
	}
	return CL_OK;
}

static bool link_valid(const cl_net_link *l)
{
	return l->host_if[0] && l->guest_if[0] && memchr(l->host_if, '\0', sizeof(l->host_if)) &&
	       memchr(l->guest_if, '\0', sizeof(l->guest_if)) && !strchr(l->host_if, '/') &&
	       strcmp(l->host_if, ".") && strcmp(l->host_if, "..") && l->prefix >= 8 && l->prefix <= 30;
}

cl_err cl_net_plumb(pid_t ns_pid, const cl_net_link *l)
{
	cl_err err = CL_OK;
	nl_sock host = {.ctl = -1}, guest = {.ctl = -1};
	int netns_fd = -1, e, host_index = 0, guest_index = 0, lo_index = 0;
	bool created = false;
	CL_ENSURE(link_valid(l), CL_EINVAL, "network: malformed link");
	CL_GUARD_OUT(err, netns_open(ns_pid, &netns_fd));
	if ((e = nl_open_here(&host)) != 0) {
		err = nl_errno(e, "netlink socket", "");
		goto out;
	}
	CL_GUARD_OUT(err, nl_open_in(netns_fd, &guest));
	/* 1. The pair; the guest end born inside the sandbox's namespace.
	 * Names checked first for a clear error (NLM_F_EXCL closes the race). */
	if (if_index(&host, l->host_if, &host_index) == 0) {
		err = cl_errorf(CL_ECONFLICT, "network: interface %s already exists on the host", l->host_if);
		goto out;
	}
	if (if_index(&guest, l->guest_if, &guest_index) == 0) {
		err = cl_errorf(CL_ECONFLICT, "network: interface %s already exists in the sandbox", l->guest_if);
		goto out;
	}
	if ((e = veth_create(&host, l, netns_fd)) != 0) {
		err = nl_errno(e, "create veth", l->host_if);
		goto out;
	}
	created = true;
	/* 2. Host end: hardened, addressed, up. */
	CL_GUARD_OUT(err, host_end_harden(l->host_if));
	if ((e = if_index(&host, l->host_if, &host_index)) != 0 ||
	    (e = addr_add(&host, host_index, l->host_addr, l->prefix)) != 0 || (e = link_up(&host, host_index)) != 0) {
		err = nl_errno(e, "host end", l->host_if);
		goto out;
	}
	/* 3. Guest end: lo and eth0 up, address, default route via the host end. */
	if ((e = if_index(&guest, "lo", &lo_index)) != 0 || (e = link_up(&guest, lo_index)) != 0 ||
	    (e = if_index(&guest, l->guest_if, &guest_index)) != 0 ||
	    (e = addr_add(&guest, guest_index, l->guest_addr, l->prefix)) != 0 ||
	    (e = link_up(&guest, guest_index)) != 0 || (e = default_route(&guest, guest_index, l->host_addr)) != 0) {
		err = nl_errno(e, "guest end", l->guest_if);
		goto out;
	}
out:
	if (err != CL_OK && created && (e = link_delete(&host, l->host_if)) != 0 && e != ENODEV)
		fprintf(stderr, "cloister: network: could not delete %s after a failed plumb: %s\n", l->host_if,
			strerror(e));
	nl_close(&guest);
	nl_close(&host);
	if (netns_fd >= 0)
		close(netns_fd);
	return err;
}

cl_err cl_net_unplumb(const cl_net_link *l)
{
	nl_sock host = {.ctl = -1};
	CL_ENSURE(link_valid(l), CL_EINVAL, "network: malformed link");
	int e = nl_open_here(&host);
	if (e == 0)
		e = link_delete(&host, l->host_if);
	nl_close(&host);
	if (e == ENODEV)
		return CL_OK;
	return e == 0 ? CL_OK : nl_errno(e, "delete", l->host_if);
}
