/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the strict decoders: any input either fails cleanly or decodes to
 * bytes that re-encode to exactly the input (the decoders accept only
 * canonical encodings), and the bounded reader never reads out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../fuzz_fail.h"
#include "ccserve/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_b64(const char *in, size_t len, enum cc_b64_variant v)
{
	uint8_t *dec = NULL;
	size_t n = 0;
	if (cc_base64_decode_alloc(in, len, v, &dec, &n) < 0)
		return;
	char *enc = NULL;
	if (cc_base64_encode_alloc(dec, n, v, &enc) == 0) {
		/* URL accepts optional padding: compare without it. */
		size_t el = strlen(enc), il = len;
		if (v == CC_B64_URL)
			while (il && in[il - 1] == '=')
				il--;
		if (el != il || memcmp(enc, in, el) != 0)
			fuzz_fail();
		free(enc);
	}
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	check_b64(in, size, CC_B64_STD);
	check_b64(in, size, CC_B64_URL);
	check_b64(in, size, CC_B64_URL_NOPAD);

	uint8_t out[256];
	size_t n;
	if (cc_hex_decode(in, size, out, sizeof(out), &n) == 0) {
		char hex[513];
		if (cc_hex_encode(out, n, hex, sizeof(hex)) != 0 || strncasecmp(hex, in, size) != 0)
			fuzz_fail();
	}

	/* Walk the input as a length-prefixed record stream. */
	struct cc_reader r;
	cc_reader_init(&r, data, size);
	for (;;) {
		uint16_t len;
		struct cc_reader sub;
		if (cc_read_u16le(&r, &len) < 0 || cc_reader_sub(&r, len, &sub) < 0)
			break;
		uint32_t v;
		while (cc_read_u32be(&sub, &v) == 0)
			;
	}
	int64_t t;
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, in, size);
		s[size] = '\0';
		(void)cc_time_parse(s, &t);
		uint64_t u;
		(void)cc_parse_u64(s, &u);
		free(s);
	}
	return 0;
}
