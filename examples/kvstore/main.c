/* kvstore — a small in-memory key-value store, the example enclave
 * application. It reads one request per line on stdin and writes exactly one
 * reply line per request on stdout (flushed at once, so it works over a
 * pipe); diagnostics go to stderr (the enclave's logs).
 *
 *   PUT key value   -> OK                 (value: the rest of the line)
 *   GET key         -> OK value | ERR not found
 *   DEL key         -> OK | ERR not found
 *   LIST            -> OK n key1 key2 ... (sorted)
 *   STATS           -> OK keys=N bytes=N puts=N gets=N dels=N errors=N
 *
 * Everything is bounded: keys up to 64 bytes of [A-Za-z0-9._:/-], values up
 * to 1024 printable bytes, at most 1024 keys, request lines up to 2048 bytes.
 * A bad request gets "ERR <reason>" and changes nothing. Static, libc only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64
#define VALUE_MAX 1024
#define ENTRIES_MAX 1024
#define LINE_MAX_BYTES 2048

struct entry {
	char key[KEY_MAX + 1];
	char *value;
	size_t vlen;
};

static struct entry table[ENTRIES_MAX];
static size_t nentries; /* table[0..nentries) kept sorted by key */
static unsigned long long n_puts, n_gets, n_dels, n_errors, value_bytes;

static void reply_ok(const char *value)
{
	if (value)
		printf("OK %s\n", value);
	else
		printf("OK\n");
	fflush(stdout);
}

static void reply_err(const char *reason)
{
	n_errors++;
	printf("ERR %s\n", reason);
	fflush(stdout);
}

static int valid_key(const char *k, size_t n)
{
	if (n == 0 || n > KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '/' || c == '-'))
			return 0;
	}
	return 1;
}

static int valid_value(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
			return 0;
	return 1;
}

/* Binary search: index of key, or -(insertion point) - 1. */
static long find(const char *key)
{
	size_t lo = 0, hi = nentries;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(table[mid].key, key);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static void do_put(const char *key, const char *value)
{
	size_t vlen = strlen(value);
	if (vlen > VALUE_MAX) {
		reply_err("value too long (max 1024 bytes)");
		return;
	}
	if (!valid_value(value, vlen)) {
		reply_err("value contains control characters");
		return;
	}
	long i = find(key);
	char *copy = malloc(vlen + 1);
	if (!copy) {
		reply_err("out of memory");
		return;
	}
	memcpy(copy, value, vlen + 1);
	if (i >= 0) {
		value_bytes -= table[i].vlen;
		free(table[i].value);
	} else {
		if (nentries == ENTRIES_MAX) {
			free(copy);
			reply_err("store full (max 1024 keys)");
			return;
		}
		size_t at = (size_t)(-i - 1);
		memmove(&table[at + 1], &table[at], (nentries - at) * sizeof(table[0]));
		nentries++;
		i = (long)at;
		snprintf(table[i].key, sizeof(table[i].key), "%s", key);
	}
	table[i].value = copy;
	table[i].vlen = vlen;
	value_bytes += vlen;
	n_puts++;
	reply_ok(NULL);
}

static void do_get(const char *key)
{
	long i = find(key);
	n_gets++;
	if (i < 0) {
		reply_err("not found");
		return;
	}
	reply_ok(table[i].value);
}

static void do_del(const char *key)
{
	long i = find(key);
	if (i < 0) {
		reply_err("not found");
		return;
	}
	value_bytes -= table[i].vlen;
	free(table[i].value);
	memmove(&table[i], &table[i + 1], (nentries - (size_t)i - 1) * sizeof(table[0]));
	nentries--;
	n_dels++;
	reply_ok(NULL);
}

static void do_list(void)
{
	printf("OK %zu", nentries);
	for (size_t i = 0; i < nentries; i++)
		printf(" %s", table[i].key);
	printf("\n");
	fflush(stdout);
}

static void do_stats(void)
{
	printf("OK keys=%zu bytes=%llu puts=%llu gets=%llu dels=%llu errors=%llu\n", nentries, value_bytes,
	       n_puts, n_gets, n_dels, n_errors);
	fflush(stdout);
}

/* Splits off the next space-separated word; returns it (NUL-terminated) and
 * advances *p past one separating space. */
static char *next_word(char **p)
{
	char *w = *p;
	char *sp = strchr(w, ' ');
	if (sp) {
		*sp = '\0';
		*p = sp + 1;
	} else {
		*p = w + strlen(w);
	}
	return w;
}

static void handle(char *line)
{
	char *p = line;
	char *cmd = next_word(&p);
	int is_put = strcmp(cmd, "PUT") == 0;
	int is_get = strcmp(cmd, "GET") == 0, is_del = strcmp(cmd, "DEL") == 0;
	if (is_put || is_get || is_del) {
		int has_value = strchr(p, ' ') != NULL;
		char *key = next_word(&p);
		if (!*key || (is_put && !has_value)) {
			reply_err(is_put ? "usage: PUT key value" : is_get ? "usage: GET key" : "usage: DEL key");
			return;
		}
		if (!valid_key(key, strlen(key))) {
			reply_err("invalid key (1-64 characters of A-Z a-z 0-9 . _ : / -)");
			return;
		}
		if (is_put) {
			do_put(key, p); /* an empty value is allowed: "PUT k " */
		} else if (*p) {
			reply_err(is_get ? "usage: GET key" : "usage: DEL key");
		} else if (is_get) {
			do_get(key);
		} else {
			do_del(key);
		}
		return;
	}
	if (strcmp(cmd, "LIST") == 0 && !*p) {
		do_list();
		return;
	}
	if (strcmp(cmd, "STATS") == 0 && !*p) {
		do_stats();
		return;
	}
	if (strcmp(cmd, "LIST") == 0 || strcmp(cmd, "STATS") == 0) {
		reply_err("this command takes no arguments");
		return;
	}
	if (!*cmd) {
		reply_err("empty request (commands: PUT GET DEL LIST STATS)");
		return;
	}
	reply_err("unknown command (commands: PUT GET DEL LIST STATS)");
}

int main(void)
{
	static char line[LINE_MAX_BYTES + 2];
	fprintf(stderr, "kvstore: ready (max %d keys, %d-byte values)\n", ENTRIES_MAX, VALUE_MAX);
	size_t len = 0;
	int overflow = 0, c;
	/* Read byte by byte into a fixed buffer: a long line never grows memory. */
	while ((c = getchar()) != EOF) {
		if (c != '\n') {
			if (len < LINE_MAX_BYTES + 1)
				line[len++] = (char)c;
			else
				overflow = 1;
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (overflow || len > LINE_MAX_BYTES) {
			fprintf(stderr, "kvstore: rejected a request longer than %d bytes\n", LINE_MAX_BYTES);
			reply_err("request too long (max 2048 bytes)");
		} else {
			handle(line);
		}
		len = 0;
		overflow = 0;
	}
	if (len > 0)
		fprintf(stderr, "kvstore: ignored an unterminated last request\n");
	fprintf(stderr, "kvstore: end of input after %llu puts, %llu gets, %llu dels; exiting\n", n_puts, n_gets,
		n_dels);
	for (size_t i = 0; i < nentries; i++)
		free(table[i].value);
	return 0;
}
