/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the HTTP/1.1 request and response head parser and the chunked
 * decoder, fed the way the server and client feed them (growing buffer,
 * then the body after the head).  Input byte 0 selects request/response and
 * the cap; the rest is the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../fuzz_fail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool response = data[0] & 1;
	size_t max_head = (data[0] & 2) ? 64 : 8192;
	size_t step = 1 + (data[0] >> 4);
	data++;
	size--;
	struct h1_field fields[32];
	struct h1_head hh;
	size_t scanned = 0;
	int r = 0;
	/* Incremental feeding must agree with the one-shot parse. */
	size_t fed = 0;
	while (fed < size) {
		fed = fed + step > size ? size : fed + step;
		r = h1_parse_head(data, fed, response, max_head, &scanned, fields, 32, &hh);
		if (r != 0)
			break;
	}
	size_t scanned2 = 0;
	struct h1_head hh2;
	int r2 = h1_parse_head(data, fed, response, max_head, &scanned2, fields, 32, &hh2);
	if (r != r2)
		fuzz_fail();
	if (r != 1)
		return 0;
	if (hh.head_len > fed || hh.n_fields > 32)
		fuzz_fail();
	for (size_t i = 0; i < hh.n_fields; i++)
		if (fields[i].name.off + fields[i].name.len > hh.head_len ||
		    fields[i].value.off + fields[i].value.len > hh.head_len)
			fuzz_fail();
	if (hh.body == H1_BODY_CHUNKED) {
		struct h1_chunked st;
		memset(&st, 0, sizeof(st));
		struct cc_buf out;
		cc_buf_init(&out, 1 << 16, false);
		size_t off = hh.head_len;
		while (off < size) {
			size_t n = size - off < step ? size - off : step;
			size_t used = 0;
			int cr = h1_chunked_feed(&st, data + off, n, &used, &out);
			if (used > n)
				fuzz_fail();
			off += used;
			if (cr != 0 || used == 0)
				break;
		}
		cc_buf_free(&out);
	}
	return 0;
}
