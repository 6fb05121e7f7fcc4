/*
 * fuzz_multipart.c — libFuzzer harness for kilnd's multipart uploads:
 * libmicrohttpd's post processor, fed the fuzzer's bytes in the pieces MHD
 * would hand over, calling kilnd's own iterator and body gathering.
 *
 * DESIGN
 * MHD_create_post_processor() reads the request's Content-Type from its
 * connection with MHD_lookup_connection_value_n(); this harness defines that
 * function (it takes precedence over the shared library's for the calls
 * libmicrohttpd makes through its PLT) and answers with the type chosen by
 * the input, so the real post processor runs with no socket.  The input is
 * one byte of piece size, a Content-Type line ending in '\n', then the body.
 * post_iter() and body_append() are server.c's (api_post_iter and
 * api_body_append, declared in api.h).  Checked on each input: no
 * sanitizer report, the gathered body never passes the limit and is
 * NUL-terminated, too_big is set exactly when the `file` part passed it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_type[512];
static size_t fuzz_file_len;       /* the last input's file part, for tests/unit/test_http_fuzz.c */

enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *connection,
					      enum MHD_ValueKind kind, const char *key, size_t key_size,
					      const char **value_ptr, size_t *value_size_ptr)
{
	(void)connection;
	(void)key_size;
	if (kind != MHD_HEADER_KIND || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) != 0)
		return MHD_NO;
	if (value_ptr)
		*value_ptr = fuzz_type;
	if (value_size_ptr)
		*value_size_ptr = strlen(fuzz_type);
	return MHD_YES;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request req;
	const uint8_t *nl;
	size_t piece, tl;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	nl = memchr(data, '\n', size < sizeof(fuzz_type) ? size : sizeof(fuzz_type) - 1);
	if (!nl)
		return 0;
	tl = (size_t)(nl - data);
	memcpy(fuzz_type, data, tl);
	fuzz_type[tl] = '\0';
	data = nl + 1;
	size -= tl + 1;

	memset(&req, 0, sizeof(req));
	req.upload_max = 4096;
	req.pp = MHD_create_post_processor((struct MHD_Connection *)&req, 1024, api_post_iter, &req);
	if (req.pp) {
		for (size_t off = 0; off < size && !req.bad_body; off += piece) {
			size_t n = size - off < piece ? size - off : piece;

			if (MHD_post_process(req.pp, (const char *)data + off, n) != MHD_YES)
				req.bad_body = 1;
		}
		MHD_destroy_post_processor(req.pp);
	}
	if (req.body_len > req.upload_max || (req.body && req.body[req.body_len] != '\0'))
		abort();
	if (req.too_big && req.body)
		abort();
	fuzz_file_len = req.body_len;
	free(req.body);
	free(req.file_name);
	return 0;
}
