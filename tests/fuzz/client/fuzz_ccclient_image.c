/* SPDX-License-Identifier: Apache-2.0 */
/* --img files: JPEG/PNG decode, then the resampler on what came out. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_rgb img;
	char why[200];
	if (cl_image_decode(data, size, &img, why, sizeof(why)) < 0)
		return 0;
	if ((size_t)img.w * img.h <= (1u << 20)) {
		struct cl_preproc p = { .out_w = 7, .out_h = 5, .filter = CL_FILTER_LANCZOS3, .crop = 0.875,
					.mean = { 1, 2, 3 }, .std = { 1, 1, 1 } };
		float out[7 * 5 * 3];
		(void)cl_image_preprocess(&img, &p, out);
	}
	cl_rgb_free(&img);
	return 0;
}
