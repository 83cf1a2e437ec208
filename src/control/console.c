/* console.c — the web console: static files embedded at build time
 * (scripts/embed-console.sh writes build/gen/console_files.h from console/),
 * served at /console/ with a strict Content-Security-Policy. There is no file
 * system path anywhere: a request names one of a fixed set of files or gets
 * 404, so path traversal is impossible by construction. */
#include "control/console.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <string.h>

#include "common/log.h"

struct console_file {
	const char *name;
	const unsigned char *data;
	size_t len;
};

#include "console_files.h" /* generated: console_files[] */

/* Content-Type by extension. A file of another kind is never served
 * (tests/unit/test_console.c checks every file in console/ is). */
static const char *type_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".png", "image/png"},
		{".svg", "image/svg+xml"},
	};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

bool ctl_console_find(const char *name, const uint8_t **data, size_t *len, const char **type)
{
	if (name[0] == '\0')
		name = "index.html";
	for (size_t i = 0; i < sizeof(console_files) / sizeof(console_files[0]); i++) {
		const char *t = type_of(console_files[i].name);
		if (strcmp(console_files[i].name, name) != 0 || !t)
			continue;
		*data = console_files[i].data;
		*len = console_files[i].len;
		*type = t;
		return true;
	}
	return false;
}

static void add_security_headers(struct evkeyvalq *h)
{
	evhttp_add_header(h, "Content-Security-Policy", CTL_CONSOLE_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
	/* The files change only with the binary: revalidate, but they hold no secret. */
	evhttp_add_header(h, "Cache-Control", "no-cache");
}

void ctl_api_console(ctl_req *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	/* "/console" alone: the page's relative links need the trailing slash. */
	if (r->nseg == 1 && path && strcmp(path, "/console") == 0) {
		add_security_headers(h);
		evhttp_add_header(h, "Location", "/console/");
		ctl_count_status(r->srv, 301);
		evhttp_send_reply(r->req, 301, "Moved Permanently", NULL);
		return;
	}
	const uint8_t *data = NULL;
	size_t len = 0;
	const char *type = NULL;
	if (r->nseg > 2 || !ctl_console_find(r->nseg == 2 ? r->seg[1] : "", &data, &len, &type)) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such console file");
		return;
	}
	struct evbuffer *out = evbuffer_new();
	/* The embedded bytes are static: referenced, not copied. */
	if (!out || evbuffer_add_reference(out, data, len, NULL, NULL) != 0) {
		if (out)
			evbuffer_free(out);
		ctl_reply_error(r->srv, r->req, CL_ENOMEM, "out of memory");
		return;
	}
	evhttp_add_header(h, "Content-Type", type);
	add_security_headers(h);
	ctl_count_status(r->srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
}
