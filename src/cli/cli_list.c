/* cli_list.c — `cloister WHAT list` for every paginated collection: the
 * API's `?limit=&after=` -> {"items": [...], "next": ...} pages, walked to
 * the end, or one page with its next cursor (--limit / --after).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 500
#define LIST_MAX_PAGES 10000

static const char *article(const char *what)
{
	return strchr("aeiou", what[0]) ? "an" : "a";
}

/* One page at cursor (NULL: the first) into t and all; *next becomes the
 * next page's cursor (malloc'd, checked to be an id) or NULL. */
static cl_err list_page(const cl_cli_list *l, cl_cli_conn *c, uint64_t limit, const char *cursor, cl_cli_table *t,
			json_t *all, char **next)
{
	char path[512];
	json_t *page = NULL;
	cl_err err = CL_OK;
	*next = NULL;
	int n = snprintf(path, sizeof(path), "%s?limit=%llu%s%s%s", l->path, (unsigned long long)limit,
			 l->filter ? l->filter : "", cursor ? "&after=" : "", cursor ? cursor : "");
	CL_ENSURE(n > 0 && (size_t)n < sizeof(path), CL_EINVAL, "%s list: query too long", l->what);
	CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &page, NULL));
	json_t *items = json_object_get(page, "items");
	if (!json_is_array(items)) {
		err = cl_errorf(CL_EPROTO, "server sent %s %s list without items", article(l->what), l->what);
		goto out;
	}
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item)
	{
		CL_GUARD_OUT(err, l->add_row(t, item));
		if (json_array_append(all, item) != 0) {
			err = CL_ENOMEM;
			goto out;
		}
	}
	const char *s = json_string_value(json_object_get(page, "next"));
	if (s && *s) {
		if (!cl_cli_valid_id(s)) {
			err = cl_errorf(CL_EPROTO, "server sent an invalid cursor");
			goto out;
		}
		if (!(*next = strdup(s)))
			err = CL_ENOMEM;
	}
out:
	json_decref(page);
	return err;
}

int cl_cli_list_pages(const cl_cli_list *l)
{
	cl_err err;
	uint64_t limit = l->page_size ? l->page_size : LIST_DEFAULT_LIMIT;
	if (l->limit && (err = cl_cli_parse_uint(l->limit, LIST_MAX_LIMIT, &limit)) != CL_OK)
		return cl_cli_fail_usage(err);
	if (limit == 0)
		return cl_cli_usage("%s list: --limit must be at least 1", l->what);
	if (l->after && !cl_cli_valid_id(l->after))
		return cl_cli_usage("%s list: invalid cursor '%s'", l->what, l->after);
	bool one_page = l->limit || l->after;
	cl_cli_conn *c = NULL;
	cl_cli_table *t = NULL;
	json_t *all = json_array();
	char *cursor = l->after ? strdup(l->after) : NULL;
	if (!all || (l->after && !cursor)) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_table_new(l->ncols, l->header, &t));
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	for (int pages = 0; pages < LIST_MAX_PAGES; pages++) {
		char *next = NULL;
		err = list_page(l, c, limit, cursor, t, all, &next);
		free(cursor);
		cursor = next;
		if (err != CL_OK)
			goto out;
		if (one_page || !cursor)
			break;
	}
	if (cl_cli_global()->json) {
		json_t *doc = json_pack("{s:O,s:s?}", "items", all, "next", one_page ? cursor : NULL);
		cl_cli_print_json(doc);
		json_decref(doc);
	} else {
		cl_cli_table_print(t);
		if (one_page && cursor)
			fprintf(stderr, "more: cloister %s list --limit %llu --after %s\n", l->what,
				(unsigned long long)limit, cursor);
	}
out:
	free(cursor);
	json_decref(all);
	cl_cli_table_free(t);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}
