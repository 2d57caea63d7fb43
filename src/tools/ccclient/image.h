/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image input for ccclient: decode JPEG (libjpeg-turbo) or PNG (libpng) into
 * 8-bit RGB, then centre-crop and resample to the model's input size with a
 * separable filter, and normalise per channel into float32 NHWC.
 */
#ifndef CCCLIENT_IMAGE_H
#define CCCLIENT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ccserve/util.h"

#define CL_IMG_MAX_SIDE 32768u
#define CL_IMG_MAX_PIXELS (64u << 20)   /* 64 Mpixel, 192 MiB of RGB */
#define CL_IMG_MAX_FILE (256u << 20)

struct cl_rgb {
	uint32_t w, h;
	uint8_t *px; /* w*h*3 bytes, row-major RGB; malloc()ed */
};

void cl_rgb_free(struct cl_rgb *img);

/* Decode a JPEG or PNG (detected by signature) held in memory.  Grayscale,
 * palette, 16-bit and alpha images are converted to 8-bit RGB (alpha is
 * composited onto black).  CMYK JPEGs are refused.  errbuf receives a
 * user-facing reason on failure.  Errors: -EINVAL (not JPEG/PNG, corrupt),
 * CC_E_TOOBIG (dimensions above the caps), -ENOMEM. */
int cl_image_decode(const uint8_t *data, size_t len, struct cl_rgb *ret,
		    char *errbuf, size_t errsz);

enum cl_filter {
	CL_FILTER_BILINEAR, /* triangle filter widened by the scale when
			     * shrinking: antialiased bilinear, like Pillow's
			     * BILINEAR */
	CL_FILTER_LANCZOS3, /* windowed sinc, support 3 (× scale when shrinking) */
};

int cl_filter_parse(const char *s, enum cl_filter *ret);
const char *cl_filter_name(enum cl_filter f);

struct cl_preproc {
	uint32_t out_w, out_h;
	enum cl_filter filter;
	double crop;     /* (0, 1]: fraction of the largest centred region with
			  * the output's aspect ratio */
	float mean[3];   /* out = (v - mean[c]) / std[c], v in [0, 255] */
	float std[3];
};

/* Crop, resample and normalise img into out (out_w*out_h*3 floats, NHWC).
 * Resampled values are clamped to [0, 255] before normalisation.
 * Errors: -EINVAL (bad parameters, std 0), -ENOMEM. */
int cl_image_preprocess(const struct cl_rgb *img, const struct cl_preproc *p, float *out);

/* Exposed for the tests: the source region cl_image_preprocess resamples. */
void cl_image_crop_region(uint32_t src_w, uint32_t src_h, uint32_t out_w, uint32_t out_h,
			  double crop, double *x0, double *y0, double *w, double *h);

#endif
