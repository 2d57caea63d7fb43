/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: gRPC message decoding as the server does it -- frames, the
 * gzip decompression with its cap, grpc-timeout, and grpc-message percent
 * decoding (which must round-trip through the encoder).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz_fail.h"
#include "ccserve/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = 1 << 20;
	size_t off = 0;
	/* A sequence of frames. */
	while (off < size) {
		bool comp;
		const uint8_t *m;
		size_t ml, used;
		int r = net_grpc_frame_decode(data + off, size - off, max, &comp, &m, &ml, &used);
		if (r != 1)
			break;
		if (used != ml + NET_GRPC_PREFIX_LEN || used > size - off || m != data + off + 5)
			fuzz_fail();
		if (comp) {
			uint8_t *out = NULL;
			size_t ol = 0;
			if (net_gzip_decompress(m, ml, 1 << 16, &out, &ol) == 0) {
				if (ol > (1 << 16))
					fuzz_fail();
				free(out);
			}
		}
		off += used;
	}
	/* Header values. */
	char tmp[16];
	size_t tl = size < sizeof(tmp) - 1 ? size : sizeof(tmp) - 1;
	memcpy(tmp, data, tl);
	tmp[tl] = 0;
	uint64_t ns;
	if (net_grpc_timeout_parse(tmp, &ns) == 0) {
		char b[16];
		uint64_t back;
		if (net_grpc_timeout_format(ns, b, sizeof(b)) != 0 || net_grpc_timeout_parse(b, &back) != 0 ||
		    back < ns)
			fuzz_fail();
	}
	char *dec = NULL, *enc = NULL, *dec2 = NULL;
	size_t dl, dl2;
	if (net_pct_decode((const char *)data, size, &dec, &dl) == 0) {
		if (net_pct_encode(dec, dl, &enc) == 0) {
			if (net_pct_decode(enc, strlen(enc), &dec2, &dl2) != 0 || dl2 != dl ||
			    memcmp(dec, dec2, dl) != 0)
				fuzz_fail();
		}
	}
	free(dec);
	free(enc);
	free(dec2);
	return 0;
}
