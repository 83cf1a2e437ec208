/* fuzz_token.c — the credential parsers that take outside input: the first
 * byte picks one, the rest is its input.
 *   0: POST /v1/tokens body (ctl_parse_token_req, after ctl_json_body)
 *   1: a token lifetime string (ctl_parse_ttl)
 *   2: a join token file's content or CLOISTER_JOIN_TOKEN (cl_agent_join_token_parse)
 * Every accepted input must satisfy the documented bounds; anything else must
 * be refused without crashing or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "control/validate.h"
#include "host/agent_args.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void token_req(const uint8_t *data, size_t size)
{
	json_t *j = NULL;
	const char *tenant, *name, *kind;
	int64_t ttl = -1;
	if (ctl_json_body(data, size, &j) != CL_OK)
		return;
	if (ctl_parse_token_req(j, &tenant, &name, &kind, &ttl) == CL_OK) {
		check(ctl_valid_id(tenant) && ctl_valid_name(name));
		check(ttl >= 0 && ttl <= CTL_TOKEN_TTL_MAX_S);
		check(!kind || strcmp(kind, "admin") == 0 || strcmp(kind, "tenant") == 0 ||
		      strcmp(kind, "engineer") == 0 || strcmp(kind, "metrics") == 0);
	}
	json_decref(j);
}

static void ttl(const uint8_t *data, size_t size)
{
	char s[64];
	int64_t v = -1;
	if (size >= sizeof(s))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ctl_parse_ttl(s, &v) == CL_OK) {
		check(v >= 1 && v <= CTL_TOKEN_TTL_MAX_S);
		check(strlen(s) >= 2 && s[0] >= '1' && s[0] <= '9' && strchr("smhd", s[strlen(s) - 1]));
	} else {
		check(v == -1);
	}
}

static void join_token(const uint8_t *data, size_t size)
{
	char out[CL_AGENT_JOIN_TOKEN_MAX];
	if (cl_agent_join_token_parse((const char *)data, size, out, sizeof(out)) != CL_OK)
		return;
	size_t n = strlen(out);
	check(n >= 1 && n < CL_AGENT_JOIN_TOKEN_MAX);
	for (size_t i = 0; i < n; i++)
		check(out[i] > 0x20 && out[i] < 0x7f);
	check(memmem(data, size, out, n) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		token_req(data + 1, size - 1);
		break;
	case 1:
		ttl(data + 1, size - 1);
		break;
	default:
		join_token(data + 1, size - 1);
		break;
	}
	return 0;
}
