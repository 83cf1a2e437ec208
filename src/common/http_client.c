#include "common/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cl_http_client {
	CURL *curl;
	char *base_url;
	char *ca_file;
	char *auth_header;
	long timeout_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

cl_err cl_http_client_new(const char *base_url, const char *ca_file, const char *token,
			  cl_http_client **out)
{
	pthread_once(&curl_once, curl_init_once);
	cl_http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return CL_ENOMEM;
	c->timeout_ms = 30000;
	c->curl = curl_easy_init();
	c->base_url = strdup(base_url);
	c->ca_file = ca_file ? strdup(ca_file) : NULL;
	if (token) {
		size_t n = strlen(token) + 32;
		c->auth_header = malloc(n);
		if (c->auth_header)
			snprintf(c->auth_header, n, "Authorization: Bearer %s", token);
	}
	if (!c->curl || !c->base_url || (ca_file && !c->ca_file) || (token && !c->auth_header)) {
		cl_http_client_free(c);
		return CL_ENOMEM;
	}
	*out = c;
	return CL_OK;
}

void cl_http_client_free(cl_http_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c->base_url);
	free(c->ca_file);
	free(c);
}

void cl_http_client_set_timeout(cl_http_client *c, long ms)
{
	c->timeout_ms = ms;
}

struct sink {
	cl_buf *buf;
	int overflow;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	if (cl_buf_put(s->buf, p, size * n) != CL_OK) {
		s->overflow = 1;
		return 0;
	}
	return size * n;
}

cl_err cl_http_request(cl_http_client *c, const char *method, const char *path,
		       const char *const *headers, const void *body, size_t body_len,
		       const char *content_type, long *status, cl_buf *resp)
{
	char url[2048];
	if (snprintf(url, sizeof(url), "%s%s", c->base_url, path) >= (int)sizeof(url))
		return cl_errorf(CL_EINVAL, "URL too long");
	cl_buf_reset(resp);
	struct sink sink = {resp, 0};
	struct curl_slist *hl = NULL;
	char ctype[256];
	if (c->auth_header)
		hl = curl_slist_append(hl, c->auth_header);
	if (body) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 content_type ? content_type : "application/json");
		hl = curl_slist_append(hl, ctype);
	}
	hl = curl_slist_append(hl, "Expect:");
	for (const char *const *h = headers; h && *h; h++)
		hl = curl_slist_append(hl, *h);

	CURL *e = c->curl;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	CURLcode rc = curl_easy_perform(e);
	curl_slist_free_all(hl);
	if (sink.overflow)
		return cl_errorf(CL_ETOOBIG, "response larger than %zu bytes", resp->max);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return cl_errorf(CL_ETIMEOUT, "%s %s: timed out", method, path);
	if (rc != CURLE_OK)
		return cl_errorf(CL_EIO, "%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	return CL_OK;
}
