/* Unit tests for the agent's guest networks (src/host/agent_net.c): the
 * journal DATA/net.json, slots taken and given back, adoption at start.
 * Each test runs as a fresh "host" network namespace (nothing of the
 * machine's is touched) with children alone in namespaces as the guests:
 *
 *   this process (unshare -n)  clg<n> ──veth── eth0   guest child (unshare -n)
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "host/agent_net.h"

static bool have_netns;
static char dir[64], path[96];

static pid_t guest_start(void)
{
	int ready[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
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
	return pid;
}

static void guest_stop(pid_t pid)
{
	int st;
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

static int setup(void **state)
{
	static bool tried;
	snprintf(dir, sizeof(dir), "/tmp/test_agent_net.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/net.json", dir);
	if (unshare(CLONE_NEWNET) != 0) {
		if (tried)
			return -1;
		tried = true;
		fprintf(stderr, "# no network namespace (%s): tests skipped\n", strerror(errno));
		return 0;
	}
	tried = have_netns = true;
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static char *journal(void)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* Slots taken lowest first and journaled before any link exists; released
 * with their link; an id asks twice, gets the same slot. */
static void reserve_plumb_release(void **state)
{
	if (!have_netns)
		skip();
	cl_agent_net *n;
	cl_net_link a, b, again, c;
	assert_int_equal(cl_agent_net_open(dir, "10.78.1.0/24", &n), CL_OK);
	assert_int_equal(cl_agent_net_adopt(n, NULL, NULL, 0), CL_OK);
	assert_int_equal(access(path, F_OK), -1); /* nothing to journal yet */
	assert_int_equal(cl_agent_net_reserve(n, "enc-a", &a), CL_OK);
	assert_int_equal(cl_agent_net_reserve(n, "enc-b", &b), CL_OK);
	assert_int_equal(cl_agent_net_reserve(n, "enc-a", &again), CL_OK);
	assert_int_equal(a.slot, 0);
	assert_int_equal(b.slot, 1);
	assert_int_equal(again.slot, 0);
	assert_string_equal(a.host_if, "clg0");
	assert_string_equal(journal(), "{\"guests\":{\"enc-a\":0,\"enc-b\":1},\"pool\":\"10.78.1.0/24\"}");
	assert_false(link_exists("clg0"));
	pid_t g = guest_start();
	assert_int_equal(cl_agent_net_plumb(n, "enc-a", g), CL_OK);
	assert_true(link_exists("clg0"));
	assert_int_equal(cl_agent_net_plumb(n, "enc-x", g), CL_ENOTFOUND);
	json_t *encs = json_loads("[{\"id\":\"enc-a\"},{\"id\":\"enc-z\"}]", 0, NULL);
	cl_agent_net_attach(n, encs);
	json_t *net = json_object_get(json_array_get(encs, 0), "network");
	assert_string_equal(json_string_value(json_object_get(net, "address")), "10.78.1.2");
	assert_string_equal(json_string_value(json_object_get(net, "host_address")), "10.78.1.1");
	assert_null(json_object_get(json_array_get(encs, 1), "network"));
	json_decref(encs);
	assert_int_equal(cl_agent_net_release(n, "enc-a"), CL_OK);
	assert_false(link_exists("clg0"));
	assert_false(cl_agent_net_get(n, "enc-a", NULL));
	assert_string_equal(journal(), "{\"guests\":{\"enc-b\":1},\"pool\":\"10.78.1.0/24\"}");
	assert_int_equal(cl_agent_net_release(n, "enc-a"), CL_OK); /* twice: nothing */
	assert_int_equal(cl_agent_net_reserve(n, "enc-c", &c), CL_OK);
	assert_int_equal(c.slot, 0); /* the freed /30 first */
	guest_stop(g);
	cl_agent_net_free(n);
}

/* At start: a live journaled enclave keeps its slot and gets its link again
 * if it lacks it; a dead one's link goes and its entry leaves the journal;
 * another pool while one lives is refused. */
static void adopt(void **state)
{
	if (!have_netns)
		skip();
	cl_agent_net *n;
	cl_net_link l;
	pid_t ga = guest_start(), gb = guest_start(), gc = guest_start();
	assert_int_equal(cl_agent_net_open(dir, "10.78.2.0/24", &n), CL_OK);
	assert_int_equal(cl_agent_net_adopt(n, NULL, NULL, 0), CL_OK);
	assert_int_equal(cl_agent_net_reserve(n, "enc-a", &l), CL_OK);
	assert_int_equal(cl_agent_net_reserve(n, "enc-b", &l), CL_OK);
	assert_int_equal(cl_agent_net_reserve(n, "enc-dead", &l), CL_OK);
	assert_int_equal(cl_agent_net_plumb(n, "enc-a", ga), CL_OK);
	assert_int_equal(cl_agent_net_plumb(n, "enc-dead", gc), CL_OK); /* its link, to be deleted */
	cl_agent_net_free(n); /* a kill: enc-b was journaled, never plumbed */

	assert_int_equal(cl_agent_net_open(dir, "10.78.3.0/24", &n), CL_OK);
	char *ids[] = {"enc-a", "enc-b"};
	pid_t pids[] = {ga, gb};
	assert_int_equal(cl_agent_net_adopt(n, ids, pids, 2), CL_ECONFLICT); /* another pool */
	cl_agent_net_free(n);

	assert_int_equal(cl_agent_net_open(dir, "10.78.2.0/24", &n), CL_OK);
	assert_int_equal(cl_agent_net_adopt(n, ids, pids, 2), CL_OK);
	assert_true(link_exists("clg0"));  /* enc-a's, kept */
	assert_true(link_exists("clg1"));  /* enc-b's, plumbed now */
	assert_false(link_exists("clg2")); /* enc-dead's, deleted */
	assert_string_equal(journal(), "{\"guests\":{\"enc-a\":0,\"enc-b\":1},\"pool\":\"10.78.2.0/24\"}");
	assert_int_equal(cl_agent_net_count(n), 2);
	assert_int_equal(cl_agent_net_reserve(n, "enc-new", &l), CL_OK);
	assert_int_equal(l.slot, 2); /* 0 and 1 claimed again */
	cl_agent_net_free(n);

	/* --destroy-all's way: nothing lives, every link goes, the journal empties */
	assert_int_equal(cl_agent_net_open(dir, NULL, &n), CL_OK);
	assert_int_equal(cl_agent_net_adopt(n, NULL, NULL, 0), CL_OK);
	assert_false(link_exists("clg0"));
	assert_false(link_exists("clg1"));
	assert_string_equal(journal(), "{\"guests\":{},\"pool\":\"10.77.0.0/16\"}");
	cl_agent_net_free(n);
	guest_stop(ga);
	guest_stop(gb);
	guest_stop(gc);
}

/* A journal that is not one is refused at open (nothing guessed). */
static void bad_journal(void **state)
{
	static const char *const bad[] = {
		"not json", "{}", "{\"pool\":\"10.78.0.0/8\",\"guests\":{}}",
		"{\"pool\":\"10.78.0.0/24\",\"guests\":[]}", "{\"pool\":\"10.78.0.0/24\",\"guests\":{\"enc-a\":64}}",
		"{\"pool\":\"10.78.0.0/24\",\"guests\":{\"ENC\":1}}", "{\"pool\":\"10.78.0.0/24\",\"guests\":{\"enc-a\":-1}}",
		"{\"pool\":\"10.78.0.0/24\",\"guests\":{\"enc-a\":\"1\"}}",
	};
	cl_agent_net *n = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cl_file_write_atomic(path, bad[i], strlen(bad[i]), 0600), CL_OK);
		if (cl_agent_net_open(dir, "10.78.0.0/24", &n) != CL_EINVAL)
			fail_msg("accepted journal %s", bad[i]);
		assert_null(n);
	}
	assert_int_equal(cl_agent_net_open(dir, "10.78.0.0/33", &n), CL_EINVAL);
	const char *ok = "{\"pool\":\"10.78.0.0/24\",\"guests\":{\"enc-a\":63}}";
	assert_int_equal(cl_file_write_atomic(path, ok, strlen(ok), 0600), CL_OK);
	assert_int_equal(cl_agent_net_open(dir, "10.78.0.0/24", &n), CL_OK);
	assert_true(cl_agent_net_get(n, "enc-a", NULL));
	cl_agent_net_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reserve_plumb_release, setup, teardown),
		cmocka_unit_test_setup_teardown(adopt, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_journal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
