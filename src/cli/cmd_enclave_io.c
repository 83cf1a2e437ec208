/* cmd_enclave_io.c — `cloister enclave send|recv|logs`: the enclave's
 * channel. Data crosses the API base64-encoded; the CLI reads and writes it
 * raw. Buffers that held enclave data are wiped before they are freed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"
#include "common/buf.h"
#include "common/util.h"

/* The caps are the control plane's (common/proto.h): the CLI refuses more
 * before sending anything. */
#define SEND_MAX CL_PROTO_SEND_MAX
#define DATA_OUT_MAX (4u << 20) /* decoded bytes accepted in an answer */

static const char *send_usage(char *buf, size_t n)
{
	char sz[32];
	snprintf(buf, n,
		 "usage: cloister enclave send ID [--data STRING] [--json]\n"
		 "\n"
		 "Sends data to the enclave application's stdin: the --data string as given, or\n"
		 "else everything read from stdin (at most %u bytes = %s per send).\n",
		 SEND_MAX, cl_cli_fmt_bytes(SEND_MAX, sz, sizeof(sz)));
	return buf;
}

static const char *recv_usage(char *buf, size_t n)
{
	snprintf(buf, n,
		 "usage: cloister enclave recv ID [--wait MS] [--max BYTES] [--json]\n"
		 "\n"
		 "Prints the application's buffered stdout raw on stdout.\n"
		 "\n"
		 "  --max BYTES   take at most BYTES (1..%u, default %u)\n"
		 "  --wait MS     wait up to MS milliseconds (0..%u) for output to arrive\n"
		 "  --json        print {\"data\": base64}\n",
		 CL_PROTO_RECV_MAX, CL_PROTO_RECV_DEFAULT, CL_PROTO_WAIT_MAX_MS);
	return buf;
}
static const char logs_usage[] = "usage: cloister enclave logs ID [--json]\n"
				 "\n"
				 "Prints the application's recent stderr (the host keeps the last part).\n";

static cl_err read_stdin(cl_buf *out)
{
	uint8_t chunk[16384];
	cl_err err = CL_OK;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_EIO, "reading stdin: %s", strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (cl_buf_put(out, chunk, (size_t)r) != CL_OK) {
			err = cl_errorf(CL_ETOOBIG, "input is larger than %u bytes, the most one send carries",
					SEND_MAX);
			break;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	return err;
}

static cl_err write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cl_errorf(CL_EIO, "writing output: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return CL_OK;
}

/* Parses "ID [options]" common to the three verbs, like cl_cli_parse_or_help:
 * true when the command is answered already (--help, or a usage error
 * printed) and returns *rc; false: go on with *id. */
static bool parse_id(const char *verb, const char *usage, int argc, char **argv, const cl_cli_option *opts,
		     const char **id, int *rc)
{
	const char *pos[1];
	size_t npos;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, usage, rc))
		return true;
	if (npos != 1) {
		*rc = cl_cli_usage("enclave %s: missing enclave ID", verb);
		return true;
	}
	if (!cl_cli_valid_id(pos[0])) {
		*rc = cl_cli_usage("enclave %s: invalid enclave ID '%s'", verb, pos[0]);
		return true;
	}
	*id = pos[0];
	return false;
}

int cl_enclave_send(int argc, char **argv)
{
	const char *data = NULL, *id = NULL;
	const cl_cli_option opts[] = {{"data", CL_OPT_VALUE, .value = &data}, {0}};
	char usage[512];
	int rc;
	if (parse_id("send", send_usage(usage, sizeof(usage)), argc, argv, opts, &id, &rc))
		return rc;
	cl_buf in;
	cl_buf_init(&in, SEND_MAX);
	cl_cli_conn *c = NULL;
	json_t *req = NULL, *resp = NULL;
	char *b64 = NULL;
	char path[256];
	cl_err err;
	if (data) {
		if (strlen(data) > SEND_MAX) {
			err = cl_errorf(CL_ETOOBIG, "--data is larger than %u bytes, the most one send carries",
					SEND_MAX);
			goto out;
		}
		CL_GUARD_OUT(err, cl_buf_put(&in, data, strlen(data)));
	} else {
		CL_GUARD_OUT(err, read_stdin(&in));
	}
	CL_GUARD_OUT(err, cl_base64_encode(in.data ? in.data : (const uint8_t *)"", in.len, &b64));
	req = json_pack("{s:s}", "data", b64);
	if (!req) {
		err = CL_ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/enclaves/%s/send", id);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", path, req, &resp, NULL));
	if (cl_cli_global()->json) {
		cl_cli_print_json(resp);
	} else {
		char b[64];
		json_t *sent = json_object_get(resp, "sent");
		if (sent)
			printf("sent %s bytes\n", cl_cli_json_text(sent, b, sizeof(b)));
		else
			printf("sent %zu bytes\n", in.len);
	}
out:
	if (b64) {
		explicit_bzero(b64, strlen(b64));
		free(b64);
	}
	json_decref(req);
	json_decref(resp);
	cl_buf_free(&in);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

/* Decodes {"data": base64} from resp and writes it raw to stdout. */
static cl_err print_data(const json_t *resp)
{
	const char *b64 = json_string_value(json_object_get(resp, "data"));
	if (!b64)
		return cl_errorf(CL_EPROTO, "server answer has no data");
	cl_buf out;
	cl_buf_init(&out, DATA_OUT_MAX);
	cl_err err = cl_base64_decode(b64, &out);
	if (err != CL_OK)
		err = cl_cli_error_context(CL_EPROTO, "server sent invalid base64");
	else if (out.len)
		err = write_all(STDOUT_FILENO, out.data, out.len);
	cl_buf_free(&out);
	return err;
}

int cl_enclave_recv(int argc, char **argv)
{
	const char *wait_s = NULL, *max_s = NULL, *id = NULL;
	const cl_cli_option opts[] = {
		{"wait", CL_OPT_VALUE, .value = &wait_s},
		{"max", CL_OPT_VALUE, .value = &max_s},
		{0},
	};
	char usage[512];
	int rc;
	if (parse_id("recv", recv_usage(usage, sizeof(usage)), argc, argv, opts, &id, &rc))
		return rc;
	uint64_t wait_ms = 0, max = CL_PROTO_RECV_DEFAULT;
	cl_err err = CL_OK;
	if ((wait_s && (err = cl_cli_parse_uint(wait_s, CL_PROTO_WAIT_MAX_MS, &wait_ms)) != CL_OK) ||
	    (max_s && (err = cl_cli_parse_uint(max_s, CL_PROTO_RECV_MAX, &max)) != CL_OK))
		return cl_cli_fail_usage(err);
	if (max == 0)
		return cl_cli_usage("enclave recv: --max must be at least 1");
	cl_cli_conn *c = NULL;
	json_t *req = json_pack("{s:I,s:I}", "max", (json_int_t)max, "wait_ms", (json_int_t)wait_ms);
	json_t *resp = NULL;
	char path[256];
	snprintf(path, sizeof(path), "/v1/enclaves/%s/recv", id);
	if (!req) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	cl_cli_conn_set_timeout(c, (long)wait_ms + 30000);
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", path, req, &resp, NULL));
	if (cl_cli_global()->json)
		cl_cli_print_json(resp);
	else
		err = print_data(resp);
out:
	json_decref(req);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_enclave_logs(int argc, char **argv)
{
	const char *id = NULL;
	static const cl_cli_option opts[] = {{0}};
	int rc;
	if (parse_id("logs", logs_usage, argc, argv, opts, &id, &rc))
		return rc;
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	char path[256];
	snprintf(path, sizeof(path), "/v1/enclaves/%s/logs", id);
	cl_err err;
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &resp, NULL));
	if (cl_cli_global()->json)
		cl_cli_print_json(resp);
	else
		err = print_data(resp);
out:
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}
