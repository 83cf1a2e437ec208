/* Unit tests for src/host/agent_nft.c, the agent's `inet cloister` nftables
 * table (docs/tls.md, "nftables consistency").
 *
 * Rendering: properties of the text (every jump has its chain, each guest's
 * DNAT and insecure rule per its policy, guests kept apart), no golden file.
 * Applying: this process moves into a network namespace of its own
 * (unshare -n; skipped where there is none), applies a state through
 * libnftables, reads it back with `nft -j list table inet cloister`, then
 * applies a changed state and checks nothing of the old one remains; a
 * refused ruleset changes nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host/agent_nft.h"

static cl_agent_nft_guest guest(uint32_t n, cl_agent_nft_mode mode, int allow)
{
	cl_agent_nft_guest g = {.index = n, .egress_port = 15001, .mode = mode, .insecure_allow = allow};
	char a[32];
	snprintf(a, sizeof(a), "10.77.%u.%u", (4 * n) / 256, (4 * n) % 256 + 2);
	assert_int_equal(inet_pton(AF_INET, a, &g.address), 1);
	snprintf(a, sizeof(a), "10.77.%u.%u", (4 * n) / 256, (4 * n) % 256 + 1);
	assert_int_equal(inet_pton(AF_INET, a, &g.egress), 1);
	return g;
}

/* A state with one guest of each mode: 0 all/reject, 3 ports/allow,
 * 7 ips/reject, 9 adapters/reject, 12 auto/allow. */
static size_t state_a(cl_agent_nft_guest *g)
{
	g[0] = guest(0, CL_AGENT_NFT_MODE_ALL, 0);
	g[1] = guest(3, CL_AGENT_NFT_MODE_PORTS, 1);
	g[1].ports[0] = 443;
	g[1].ports[1] = 8443;
	g[1].nports = 2;
	g[2] = guest(7, CL_AGENT_NFT_MODE_IPS, 0);
	assert_int_equal(cl_agent_nft_cidr_parse("192.0.2.0/24", &g[2].ips[0]), CL_OK);
	assert_int_equal(cl_agent_nft_cidr_parse("198.51.100.7", &g[2].ips[1]), CL_OK);
	g[2].nips = 2;
	g[3] = guest(9, CL_AGENT_NFT_MODE_ADAPTERS, 0);
	g[4] = guest(12, CL_AGENT_NFT_MODE_AUTO, 1);
	return 5;
}

static char *render(const cl_agent_nft_guest *g, size_t n)
{
	cl_buf b;
	const char *s;
	cl_buf_init(&b, CL_AGENT_NFT_TEXT_MAX);
	assert_int_equal(cl_agent_nft_render(g, n, &b), CL_OK);
	assert_int_equal(cl_buf_cstr(&b, &s), CL_OK);
	char *copy = strdup(s);
	assert_non_null(copy);
	cl_buf_free(&b);
	return copy;
}

static size_t count(const char *hay, const char *needle)
{
	size_t c = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		c++;
	return c;
}

/* The body of chain `name` in rendered text (a static copy). */
static const char *chain_body(const char *text, const char *name)
{
	static char body[4096];
	char head[64];
	snprintf(head, sizeof(head), "\tchain %s {\n", name);
	const char *p = strstr(text, head);
	if (!p)
		return NULL;
	p += strlen(head);
	const char *e = strstr(p, "\n\t}\n");
	assert_non_null(e);
	assert_true((size_t)(e - p) < sizeof(body));
	memcpy(body, p, (size_t)(e - p));
	body[e - p] = '\0';
	return body;
}

static void render_properties(void **state)
{
	cl_agent_nft_guest g[8];
	size_t n = state_a(g);
	char *t = render(g, n);
	/* one batch that replaces the table whole */
	assert_int_equal(strncmp(t, "table inet cloister\ndelete table inet cloister\ntable inet cloister {\n", 67), 0);
	/* every jump has its chain */
	for (const char *p = t; (p = strstr(p, "jump ")) != NULL; p += 5) {
		char name[32], head[48];
		assert_int_equal(sscanf(p, "jump %31[a-z0-9_]", name), 1);
		snprintf(head, sizeof(head), "\tchain %s {\n", name);
		assert_non_null(strstr(t, head));
	}
	/* guests never reach each other, nor the host but through the data plane */
	const char *fwd = chain_body(t, "forward");
	assert_non_null(strstr(fwd, "iifname \"clg*\" oifname \"clg*\" counter drop"));
	assert_non_null(strstr(fwd, "iifname \"cls*\" oifname \"clg*\" counter drop"));
	const char *in = chain_body(t, "input");
	assert_non_null(strstr(in, "iifname \"clg0\" ip daddr 10.77.0.1 tcp dport 15001 accept"));
	assert_non_null(strstr(in, "iifname \"clg*\" counter drop"));
	assert_true(strstr(in, "iifname \"clg0\" ip daddr") < strstr(in, "iifname \"clg*\" counter drop"));
	/* DNAT per mode */
	assert_string_equal(chain_body(t, "g0_nat"), "\t\tmeta l4proto tcp dnat ip to 10.77.0.1:15001");
	assert_string_equal(chain_body(t, "g3_nat"), "\t\ttcp dport { 443, 8443 } dnat ip to 10.77.0.13:15001");
	assert_string_equal(chain_body(t, "g7_nat"),
			    "\t\tip daddr { 192.0.2.0/24, 198.51.100.7/32 } meta l4proto tcp dnat ip to 10.77.0.29:15001");
	assert_string_equal(chain_body(t, "g12_nat"), "\t\tmeta l4proto tcp dnat ip to 10.77.0.49:15001");
	const char *pre = chain_body(t, "prerouting");
	assert_non_null(strstr(pre, "iifname \"cls9\" jump g9_nat")); /* adapters: sec0 only */
	assert_null(strstr(pre, "iifname \"clg9\""));
	assert_non_null(strstr(pre, "iifname \"clg0\" jump g0_nat"));
	assert_non_null(strstr(chain_body(t, "input"), "iifname \"cls9\" ip daddr 10.77.0.37 tcp dport 15001 accept"));
	/* the insecure rest: rejected with a counted reset, or accepted */
	for (size_t i = 0; i < n; i++) {
		char name[16], src[64];
		snprintf(name, sizeof(name), "g%u", g[i].index);
		const char *b = chain_body(t, name);
		assert_non_null(b);
		char a[INET_ADDRSTRLEN];
		snprintf(src, sizeof(src), "ip saddr != %s counter drop", inet_ntop(AF_INET, &g[i].address, a, sizeof(a)));
		assert_int_equal(strncmp(b + 2, src, strlen(src)), 0); /* first: no spoofed source */
		assert_int_equal(count(b, "meta l4proto tcp counter reject with tcp reset") == 1, !g[i].insecure_allow);
		assert_int_equal(count(b, "counter accept") == 1, g[i].insecure_allow);
	}
	assert_int_equal(count(t, "reject with tcp reset"), 3);
	/* the same state, the same text */
	char *again = render(g, n);
	assert_string_equal(t, again);
	free(again);
	free(t);
	/* no guest: the base chains alone, still guests apart */
	t = render(NULL, 0);
	assert_non_null(strstr(t, "iifname \"clg*\" oifname \"clg*\" counter drop"));
	assert_null(strstr(t, "jump"));
	free(t);
}

static void render_refuses(void **state)
{
	cl_agent_nft_guest g[8];
	cl_buf b;
	cl_buf_init(&b, CL_AGENT_NFT_TEXT_MAX);
	assert_int_equal(cl_buf_put_str(&b, "x"), CL_OK);
	for (int c = 0; c < 9; c++) {
		size_t n = state_a(g);
		switch (c) {
		case 0: g[1].index = 0; break; /* twice */
		case 1: g[0].index = CL_AGENT_NFT_INDEX_MAX + 1; break;
		case 2: g[1].ports[1] = 0; break;
		case 3: g[1].nports = 0; break;
		case 4: g[2].nips = 0; break;
		case 5: g[2].ips[0].prefix = 16; break; /* 192.0.2.0/16 has host bits */
		case 6: g[0].egress_port = 0; break;
		case 7: g[0].mode = (cl_agent_nft_mode)9; break;
		case 8: g[1].nports = CL_AGENT_NFT_LIST_MAX + 1; break;
		}
		assert_int_equal(cl_agent_nft_render(g, n, &b), CL_EINVAL);
		assert_int_equal(b.len, 1);
	}
	cl_buf_free(&b);
	/* an output too small for the rendering: refused, nothing half-written */
	size_t n = state_a(g);
	cl_buf_init(&b, 1000);
	assert_int_equal(cl_buf_put_str(&b, "x"), CL_OK);
	assert_int_equal(cl_agent_nft_render(g, n, &b), CL_ETOOBIG);
	assert_int_equal(b.len, 1);
	cl_buf_free(&b);
	cl_agent_nft_cidr c;
	const char *bad[] = {"", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/08", "1.2.3.4/24", "1.2.3.4/a", "x", NULL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cl_agent_nft_cidr_parse(bad[i], &c), CL_EINVAL);
	assert_int_equal(cl_agent_nft_cidr_parse("0.0.0.0/0", &c), CL_OK);
	assert_int_equal(c.prefix, 0);
	cl_agent_nft_mode m;
	assert_int_equal(cl_agent_nft_mode_parse("adapters", &m), CL_OK);
	assert_int_equal(m, CL_AGENT_NFT_MODE_ADAPTERS);
	assert_int_equal(cl_agent_nft_mode_parse("All", &m), CL_EINVAL);
	assert_int_equal(cl_agent_nft_mode_parse(NULL, &m), CL_EINVAL);
}

/* ---- applied, in a network namespace of our own ---- */

static bool have_netns;

static int netns_setup(void **state)
{
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "# no network namespace (%s): apply tests skipped\n", strerror(errno));
		return 0;
	}
	have_netns = true;
	return 0;
}

typedef struct listing {
	json_t *root;
	char chains[64][32];
	size_t nchains;
	char rules[256][1024]; /* "chain: expr json" */
	size_t nrules;
} listing;

/* `nft -j list table inet cloister`, flattened. Returns 0 when the table is absent. */
static int list_table(listing *l)
{
	memset(l, 0, sizeof(*l));
	FILE *p = popen("nft -j list table inet cloister 2>/dev/null", "r");
	assert_non_null(p);
	json_error_t jerr;
	json_t *root = json_loadf(p, 0, &jerr);
	int st = pclose(p);
	if (st != 0) {
		json_decref(root);
		return 0;
	}
	assert_non_null(root);
	json_t *arr = json_object_get(root, "nftables"), *o;
	size_t i;
	json_array_foreach(arr, i, o)
	{
		json_t *c = json_object_get(o, "chain"), *r = json_object_get(o, "rule");
		if (c) {
			assert_true(l->nchains < 64);
			snprintf(l->chains[l->nchains++], 32, "%s", json_string_value(json_object_get(c, "name")));
		}
		if (r) {
			assert_true(l->nrules < 256);
			char *e = json_dumps(json_object_get(r, "expr"), JSON_COMPACT);
			assert_non_null(e);
			snprintf(l->rules[l->nrules++], 1024, "%s: %s", json_string_value(json_object_get(r, "chain")), e);
			free(e);
		}
	}
	l->root = root;
	return 1;
}

static bool has_chain(const listing *l, const char *name)
{
	for (size_t i = 0; i < l->nchains; i++)
		if (strcmp(l->chains[i], name) == 0)
			return true;
	return false;
}

/* A rule of chain `chain` whose expression holds every one of the strings. */
static bool has_rule(const listing *l, const char *chain, const char *a, const char *b)
{
	size_t k = strlen(chain);
	for (size_t i = 0; i < l->nrules; i++)
		if (strncmp(l->rules[i], chain, k) == 0 && l->rules[i][k] == ':' && strstr(l->rules[i], a) &&
		    (!b || strstr(l->rules[i], b)))
			return true;
	return false;
}

static bool anywhere(const listing *l, const char *s)
{
	for (size_t i = 0; i < l->nrules; i++)
		if (strstr(l->rules[i], s))
			return true;
	return false;
}

#define RESET "{\"reject\":{\"type\":\"tcp reset\"}}"
#define COUNTER "{\"counter\":{\"packets\":0,\"bytes\":0}}"

static void apply_and_replace(void **state)
{
	if (!have_netns)
		skip();
	static listing l;
	cl_agent_nft_guest g[8];
	size_t n = state_a(g);
	assert_int_equal(cl_agent_nft_apply(g, n), CL_OK);
	assert_true(list_table(&l));
	const char *want[] = {"prerouting", "input", "forward", "g0_nat", "g0", "g3_nat", "g3", "g7_nat",
			      "g7",	    "g9_nat", "g9",     "g12_nat", "g12"};
	assert_int_equal(l.nchains, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_true(has_chain(&l, want[i]));
	assert_true(has_rule(&l, "g0_nat", "{\"dnat\":{\"family\":\"ip\",\"addr\":\"10.77.0.1\",\"port\":15001}}", NULL));
	assert_true(has_rule(&l, "g3_nat", "\"right\":{\"set\":[443,8443]}", "\"addr\":\"10.77.0.13\""));
	assert_true(has_rule(&l, "g7_nat", "{\"prefix\":{\"addr\":\"192.0.2.0\",\"len\":24}}", "\"dnat\""));
	assert_true(has_rule(&l, "g0", COUNTER "," RESET, NULL));
	assert_false(has_rule(&l, "g3", RESET, NULL));
	assert_true(has_rule(&l, "g3", COUNTER ",{\"accept\":null}", NULL));
	assert_true(has_rule(&l, "forward",
			     "\"right\":\"clg*\"}},{\"match\":{\"op\":\"==\",\"left\":{\"meta\":{\"key\":\"oifname\"}},"
			     "\"right\":\"clg*\"}}," COUNTER ",{\"drop\":null}",
			     NULL));
	assert_true(has_rule(&l, "prerouting", "\"right\":\"cls9\"", "{\"jump\":{\"target\":\"g9_nat\"}}"));
	assert_true(has_rule(&l, "input", "\"right\":\"clg7\"", "\"right\":\"10.77.0.29\""));
	json_decref(l.root);

	/* a changed state: guest 0 gone, 3 now rejects, 5 new; nothing of the old remains */
	cl_agent_nft_guest h[3];
	h[0] = g[1];
	h[0].insecure_allow = 0;
	h[1] = guest(5, CL_AGENT_NFT_MODE_ALL, 1);
	assert_int_equal(cl_agent_nft_apply(h, 2), CL_OK);
	assert_true(list_table(&l));
	assert_int_equal(l.nchains, 7);
	assert_false(has_chain(&l, "g0"));
	assert_false(has_chain(&l, "g0_nat"));
	assert_false(has_chain(&l, "g12"));
	assert_true(has_chain(&l, "g5"));
	assert_false(anywhere(&l, "\"clg0\""));
	assert_false(anywhere(&l, "\"10.77.0.1\""));
	assert_false(anywhere(&l, "cls9"));
	assert_true(has_rule(&l, "g3", COUNTER "," RESET, NULL));
	assert_false(has_rule(&l, "g3", "{\"accept\":null}", COUNTER));
	assert_true(has_rule(&l, "g5_nat", "\"addr\":\"10.77.0.21\"", NULL));
	size_t rules_before = l.nrules;
	json_decref(l.root);

	/* a ruleset nft refuses changes nothing (one transaction) */
	assert_int_equal(cl_agent_nft_apply_text("table inet cloister\ndelete table inet cloister\n"
					   "table inet cloister {\n\tchain x {\n\t\tbogus rule\n\t}\n}\n"),
			 CL_ESYS);
	assert_true(list_table(&l));
	assert_int_equal(l.nchains, 7);
	assert_int_equal(l.nrules, rules_before);
	json_decref(l.root);

	/* no guests at all: the base chains only */
	assert_int_equal(cl_agent_nft_apply(NULL, 0), CL_OK);
	assert_true(list_table(&l));
	assert_int_equal(l.nchains, 3);
	assert_false(anywhere(&l, "jump"));
	json_decref(l.root);
}

int main(void)
{
	const struct CMUnitTest render_tests[] = {
		cmocka_unit_test(render_properties),
		cmocka_unit_test(render_refuses),
	};
	const struct CMUnitTest apply_tests[] = {
		cmocka_unit_test_setup(apply_and_replace, netns_setup),
	};
	int r = cmocka_run_group_tests_name("nft_render", render_tests, NULL, NULL);
	return r + cmocka_run_group_tests_name("nft_apply", apply_tests, NULL, NULL);
}
