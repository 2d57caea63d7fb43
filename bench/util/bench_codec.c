/* SPDX-License-Identifier: Apache-2.0 */
/*
 * util codec and secure-memory throughput, as ratios against baselines
 * measured in the same run (memcpy for the codecs, malloc/free for the secure
 * allocator), since absolute times drift on shared machines.
 *   bench_util_codec [--smoke]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/util.h"

static double secs(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e9;
}

int main(int argc, char **argv)
{
	bool smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
	size_t len = smoke ? 4096 : (16u << 20);
	int reps = smoke ? 2 : 10;
	uint8_t *raw = malloc(len), *copy = malloc(len + 16);
	char *enc = malloc(cc_base64_encoded_size(len, CC_B64_STD));
	char *hex = malloc(2 * len + 1);
	if (!raw || !copy || !enc || !hex)
		return 1;
	for (size_t i = 0; i < len; i++)
		raw[i] = (uint8_t)(i * 131 + 7);

	uint64_t t0 = cc_mono_ns();
	for (int r = 0; r < reps; r++) {
		memcpy(copy, raw, len);
		__asm__ volatile("" : : "r"(copy) : "memory");
	}
	double t_memcpy = secs(t0, cc_mono_ns());

	t0 = cc_mono_ns();
	for (int r = 0; r < reps; r++)
		cc_base64_encode(raw, len, CC_B64_STD, enc, cc_base64_encoded_size(len, CC_B64_STD));
	double t_b64e = secs(t0, cc_mono_ns());

	size_t n;
	t0 = cc_mono_ns();
	for (int r = 0; r < reps; r++)
		if (cc_base64_decode(enc, strlen(enc), CC_B64_STD, copy, len + 16, &n) < 0 || n != len)
			return 1;
	double t_b64d = secs(t0, cc_mono_ns());

	t0 = cc_mono_ns();
	for (int r = 0; r < reps; r++)
		cc_hex_encode(raw, len, hex, 2 * len + 1);
	double t_hexe = secs(t0, cc_mono_ns());
	t0 = cc_mono_ns();
	for (int r = 0; r < reps; r++)
		if (cc_hex_decode(hex, 2 * len, copy, len, &n) < 0)
			return 1;
	double t_hexd = secs(t0, cc_mono_ns());
	if (memcmp(copy, raw, len) != 0)
		return 1;

	int allocs = smoke ? 100 : 20000;
	t0 = cc_mono_ns();
	for (int i = 0; i < allocs; i++) {
		void *p = malloc(64);
		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	double t_malloc = secs(t0, cc_mono_ns());
	t0 = cc_mono_ns();
	for (int i = 0; i < allocs; i++)
		cc_secure_free(cc_secure_alloc(64));
	double t_secure = secs(t0, cc_mono_ns());

	double mb = (double)len * reps / 1e6;
	printf("util codec bench (%s): %zu bytes x %d\n", smoke ? "smoke" : "full", len, reps);
	printf("  memcpy baseline      %8.1f MB/s\n", mb / t_memcpy);
	printf("  base64 encode        %8.1f MB/s  (%.3fx memcpy)\n", mb / t_b64e, t_memcpy / t_b64e);
	printf("  base64 decode        %8.1f MB/s  (%.3fx memcpy)\n", mb / t_b64d, t_memcpy / t_b64d);
	printf("  hex encode           %8.1f MB/s  (%.3fx memcpy)\n", mb / t_hexe, t_memcpy / t_hexe);
	printf("  hex decode           %8.1f MB/s  (%.3fx memcpy)\n", mb / t_hexd, t_memcpy / t_hexd);
	printf("  secure alloc+free    %8.2f us    (%.0fx malloc+free)\n", t_secure / allocs * 1e6,
	       t_secure / t_malloc);
	free(raw);
	free(copy);
	free(enc);
	free(hex);
	return 0;
}
