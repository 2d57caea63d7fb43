/* SPDX-License-Identifier: Apache-2.0 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "ccserve/util.h"

void cl_rgb_free(struct cl_rgb *img)
{
	if (!img)
		return;
	free(img->px);
	img->px = NULL;
	img->w = img->h = 0;
}

static int check_dims(uint64_t w, uint64_t h, char *errbuf, size_t errsz)
{
	if (w == 0 || h == 0) {
		snprintf(errbuf, errsz, "image has zero width or height");
		return -EINVAL;
	}
	if (w > CL_IMG_MAX_SIDE || h > CL_IMG_MAX_SIDE || w * h > CL_IMG_MAX_PIXELS) {
		snprintf(errbuf, errsz, "image %llux%llu is larger than the %u-pixel cap",
			 (unsigned long long)w, (unsigned long long)h, CL_IMG_MAX_PIXELS);
		return CC_E_TOOBIG;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* JPEG                                                                     */

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static void jerr_exit(j_common_ptr ci)
{
	struct jerr *e = (struct jerr *)ci->err;
	e->pub.format_message(ci, e->msg);
	longjmp(e->jb, 1);
}

static void jerr_output(j_common_ptr ci)
{
	(void)ci; /* warnings are counted, not printed */
}

/* Progressive JPEGs with thousands of scans decode very slowly: refuse. */
#define CL_JPEG_MAX_SCANS 256

static void jprogress(j_common_ptr ci)
{
	if (ci->is_decompressor) {
		j_decompress_ptr d = (j_decompress_ptr)ci;
		if (d->input_scan_number > CL_JPEG_MAX_SCANS) {
			struct jerr *e = (struct jerr *)ci->err;
			snprintf(e->msg, sizeof(e->msg), "more than %d progressive scans",
				 CL_JPEG_MAX_SCANS);
			longjmp(e->jb, 2);
		}
	}
}

static int decode_jpeg(const uint8_t *data, size_t len, struct cl_rgb *ret,
		       char *errbuf, size_t errsz)
{
	struct jpeg_decompress_struct ci;
	struct jerr je;
	struct jpeg_progress_mgr prog = { .progress_monitor = jprogress };
	uint8_t *volatile px = NULL;
	volatile int rc = -EINVAL;

	memset(&ci, 0, sizeof(ci));
	ci.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jerr_exit;
	je.pub.output_message = jerr_output;
	je.msg[0] = '\0';
	int jmp = setjmp(je.jb);
	if (jmp) {
		snprintf(errbuf, errsz, "corrupt JPEG: %s", je.msg);
		jpeg_destroy_decompress(&ci);
		free(px);
		return rc;
	}
	jpeg_create_decompress(&ci);
	ci.progress = &prog;
	ci.mem->max_memory_to_use = 512L << 20;
	if (len > (size_t)(unsigned long)-1)
		longjmp(je.jb, 1);
	jpeg_mem_src(&ci, data, (unsigned long)len);
	jpeg_read_header(&ci, TRUE);
	int e = check_dims(ci.image_width, ci.image_height, errbuf, errsz);
	if (e < 0) {
		jpeg_destroy_decompress(&ci);
		return e;
	}
	if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
		snprintf(errbuf, errsz, "CMYK JPEG images are not supported");
		jpeg_destroy_decompress(&ci);
		return -EINVAL;
	}
	ci.out_color_space = JCS_RGB;
	ci.dct_method = JDCT_ISLOW;
	jpeg_start_decompress(&ci);
	if (ci.output_components != 3 || ci.output_width != ci.image_width ||
	    ci.output_height != ci.image_height) {
		snprintf(errbuf, errsz, "JPEG decoder did not produce RGB");
		jpeg_destroy_decompress(&ci);
		return -EINVAL;
	}
	size_t stride = (size_t)ci.output_width * 3;
	px = malloc(stride * ci.output_height);
	if (!px) {
		rc = -ENOMEM;
		longjmp(je.jb, 1);
	}
	while (ci.output_scanline < ci.output_height) {
		JSAMPROW row = px + stride * ci.output_scanline;
		if (jpeg_read_scanlines(&ci, &row, 1) != 1)
			break;
	}
	/* A truncated stream is padded by libjpeg with a warning; treat it as
	 * an error so a cut file is not silently fed to the model. */
	if (ci.output_scanline < ci.output_height || je.pub.num_warnings > 0) {
		snprintf(errbuf, errsz, "corrupt or truncated JPEG data");
		jpeg_destroy_decompress(&ci);
		free(px);
		return -EINVAL;
	}
	jpeg_finish_decompress(&ci);
	ret->w = ci.output_width;
	ret->h = ci.output_height;
	ret->px = px;
	jpeg_destroy_decompress(&ci);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* PNG                                                                      */

static int decode_png(const uint8_t *data, size_t len, struct cl_rgb *ret,
		      char *errbuf, size_t errsz)
{
	png_image im;
	memset(&im, 0, sizeof(im));
	im.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&im, data, len)) {
		snprintf(errbuf, errsz, "corrupt PNG: %s", im.message);
		png_image_free(&im);
		return -EINVAL;
	}
	int e = check_dims(im.width, im.height, errbuf, errsz);
	if (e < 0) {
		png_image_free(&im);
		return e;
	}
	/* 16-bit files without gAMA/sRGB hold sRGB values like 8-bit ones
	 * (begin_read resets the flags, so set it here). */
	im.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
	im.format = PNG_FORMAT_RGB;
	size_t n = (size_t)im.width * im.height * 3;
	uint8_t *px = calloc(1, n); /* black background for alpha */
	if (!px) {
		png_image_free(&im);
		return -ENOMEM;
	}
	if (!png_image_finish_read(&im, NULL, px, 0, NULL)) {
		snprintf(errbuf, errsz, "corrupt PNG: %s", im.message);
		png_image_free(&im);
		free(px);
		return -EINVAL;
	}
	ret->w = im.width;
	ret->h = im.height;
	ret->px = px;
	png_image_free(&im);
	return 0;
}

int cl_image_decode(const uint8_t *data, size_t len, struct cl_rgb *ret,
		    char *errbuf, size_t errsz)
{
	static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	if (!ret || !errbuf || errsz == 0 || (len && !data))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	errbuf[0] = '\0';
	if (len > CL_IMG_MAX_FILE) {
		snprintf(errbuf, errsz, "image file larger than %u bytes", CL_IMG_MAX_FILE);
		return CC_E_TOOBIG;
	}
	if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
		return decode_jpeg(data, len, ret, errbuf, errsz);
	if (len >= 8 && memcmp(data, png_sig, 8) == 0)
		return decode_png(data, len, ret, errbuf, errsz);
	snprintf(errbuf, errsz, "not a JPEG or PNG file");
	return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Resampling                                                               */

int cl_filter_parse(const char *s, enum cl_filter *ret)
{
	if (!s)
		return -EINVAL;
	if (strcmp(s, "bilinear") == 0)
		*ret = CL_FILTER_BILINEAR;
	else if (strcmp(s, "lanczos3") == 0)
		*ret = CL_FILTER_LANCZOS3;
	else
		return -EINVAL;
	return 0;
}

const char *cl_filter_name(enum cl_filter f)
{
	return f == CL_FILTER_LANCZOS3 ? "lanczos3" : "bilinear";
}

static double filter_support(enum cl_filter f)
{
	return f == CL_FILTER_LANCZOS3 ? 3.0 : 1.0;
}

static double sinc(double x)
{
	if (x == 0)
		return 1;
	x *= M_PI;
	return sin(x) / x;
}

static double filter_eval(enum cl_filter f, double x)
{
	x = fabs(x);
	if (f == CL_FILTER_LANCZOS3)
		return x < 3 ? sinc(x) * sinc(x / 3) : 0;
	return x < 1 ? 1 - x : 0;
}

/* Per output sample: the first source index and its normalised weights. */
struct taps {
	size_t n;        /* taps per output sample (max) */
	uint32_t *first; /* out entries */
	uint32_t *cnt;   /* out entries */
	float *w;        /* out * n entries */
};

static void taps_free(struct taps *t)
{
	free(t->first);
	free(t->cnt);
	free(t->w);
}

static int taps_build(struct taps *t, enum cl_filter f, uint32_t src, double x0,
		      double len, uint32_t out)
{
	memset(t, 0, sizeof(*t));
	double scale = len / out;
	double fs = scale > 1 ? scale : 1;
	double support = filter_support(f) * fs;
	t->n = (size_t)ceil(support) * 2 + 2;
	size_t nw;
	if (!cc_mul_ok(t->n, out, &nw))
		return -ENOMEM;
	t->first = calloc(out, sizeof(uint32_t));
	t->cnt = calloc(out, sizeof(uint32_t));
	t->w = calloc(nw, sizeof(float));
	if (!t->first || !t->cnt || !t->w) {
		taps_free(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < out; i++) {
		double center = x0 + (i + 0.5) * scale;
		double lo = floor(center - support), hi = ceil(center + support);
		if (lo < 0)
			lo = 0;
		if (hi > src)
			hi = src;
		uint32_t a = (uint32_t)lo, b = (uint32_t)hi;
		if (b <= a) { /* degenerate: nearest pixel */
			a = center < 0 ? 0 : center >= src ? src - 1 : (uint32_t)center;
			b = a + 1;
		}
		if (b - a > t->n)
			b = a + (uint32_t)t->n;
		double sum = 0;
		for (uint32_t j = a; j < b; j++)
			sum += filter_eval(f, (j + 0.5 - center) / fs);
		t->first[i] = a;
		t->cnt[i] = b - a;
		for (uint32_t j = a; j < b; j++) {
			double w = filter_eval(f, (j + 0.5 - center) / fs);
			t->w[(size_t)i * t->n + (j - a)] = (float)(sum != 0 ? w / sum : 1.0 / (b - a));
		}
	}
	return 0;
}

void cl_image_crop_region(uint32_t src_w, uint32_t src_h, uint32_t out_w, uint32_t out_h,
			  double crop, double *x0, double *y0, double *w, double *h)
{
	double aspect = (double)out_w / out_h;
	double rw, rh;
	if ((double)src_w / src_h > aspect) {
		rh = src_h;
		rw = src_h * aspect;
	} else {
		rw = src_w;
		rh = src_w / aspect;
	}
	rw *= crop;
	rh *= crop;
	*x0 = (src_w - rw) / 2;
	*y0 = (src_h - rh) / 2;
	*w = rw;
	*h = rh;
}

int cl_image_preprocess(const struct cl_rgb *img, const struct cl_preproc *p, float *out)
{
	if (!img || !img->px || !p || !out || img->w == 0 || img->h == 0 ||
	    p->out_w == 0 || p->out_h == 0 || p->out_w > CL_IMG_MAX_SIDE ||
	    p->out_h > CL_IMG_MAX_SIDE || !(p->crop > 0 && p->crop <= 1))
		return -EINVAL;
	for (int c = 0; c < 3; c++)
		if (!(p->std[c] != 0) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
			return -EINVAL;

	double x0, y0, rw, rh;
	cl_image_crop_region(img->w, img->h, p->out_w, p->out_h, p->crop, &x0, &y0, &rw, &rh);

	struct taps tx, ty;
	int e = taps_build(&tx, p->filter, img->w, x0, rw, p->out_w);
	if (e < 0)
		return e;
	e = taps_build(&ty, p->filter, img->h, y0, rh, p->out_h);
	if (e < 0) {
		taps_free(&tx);
		return e;
	}
	/* Horizontal pass over the source rows the vertical pass touches. */
	uint32_t row_lo = ty.first[0];
	uint32_t row_hi = ty.first[p->out_h - 1] + ty.cnt[p->out_h - 1];
	for (uint32_t i = 0; i < p->out_h; i++) {
		if (ty.first[i] < row_lo)
			row_lo = ty.first[i];
		if (ty.first[i] + ty.cnt[i] > row_hi)
			row_hi = ty.first[i] + ty.cnt[i];
	}
	size_t rows = row_hi - row_lo, tmpn;
	float *tmp = NULL;
	if (cc_mul_ok(rows, (size_t)p->out_w * 3, &tmpn) && tmpn <= SIZE_MAX / sizeof(float))
		tmp = malloc(tmpn * sizeof(float));
	if (!tmp) {
		taps_free(&tx);
		taps_free(&ty);
		return -ENOMEM;
	}
	for (size_t r = 0; r < rows; r++) {
		const uint8_t *src = img->px + (size_t)(row_lo + r) * img->w * 3;
		float *dst = tmp + r * p->out_w * 3;
		for (uint32_t i = 0; i < p->out_w; i++) {
			const float *w = tx.w + (size_t)i * tx.n;
			const uint8_t *s = src + (size_t)tx.first[i] * 3;
			float acc0 = 0, acc1 = 0, acc2 = 0;
			for (uint32_t k = 0; k < tx.cnt[i]; k++) {
				acc0 += w[k] * s[3 * k];
				acc1 += w[k] * s[3 * k + 1];
				acc2 += w[k] * s[3 * k + 2];
			}
			dst[3 * i] = acc0;
			dst[3 * i + 1] = acc1;
			dst[3 * i + 2] = acc2;
		}
	}
	for (uint32_t j = 0; j < p->out_h; j++) {
		const float *w = ty.w + (size_t)j * ty.n;
		float *o = out + (size_t)j * p->out_w * 3;
		for (size_t x = 0; x < (size_t)p->out_w * 3; x++) {
			const float *col = tmp + (size_t)(ty.first[j] - row_lo) * p->out_w * 3 + x;
			float acc = 0;
			for (uint32_t k = 0; k < ty.cnt[j]; k++)
				acc += w[k] * col[(size_t)k * p->out_w * 3];
			if (acc < 0)
				acc = 0;
			else if (acc > 255)
				acc = 255;
			unsigned c = x % 3;
			o[x] = (acc - p->mean[c]) / p->std[c];
		}
	}
	free(tmp);
	taps_free(&tx);
	taps_free(&ty);
	return 0;
}
