/* proto.c — the id and name rules of proto.h. Pure. */
#include "common/proto.h"

#include <stddef.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cl_proto_valid_id(const char *s)
{
	if (!s || !s[0])
		return false;
	for (size_t i = 0; s[i]; i++)
		if (i >= CL_PROTO_ID_LEN_MAX || !(lower_alnum(s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool cl_proto_valid_name(const char *s)
{
	return s && lower_alnum(s[0]) && cl_proto_valid_id(s);
}
