/* SPDX-License-Identifier: Apache-2.0 */
/* Image decode (PNG written by an independent zlib-only encoder, JPEG round
 * trips) and resampling against a numpy reference computed in the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image.h"
#include "opts.h"
#include "testutil.h"

static void png_case(const char *kind, unsigned w, unsigned h)
{
	char png[300], raw[300], why[200];
	tu_path(png, sizeof(png), "t.png");
	tu_path(raw, sizeof(raw), "t.raw");
	assert_int_equal(tu_ref(NULL, 0, "png %s %u %u %s 5 %s", png, w, h, kind, raw), 0);
	size_t plen, rlen;
	uint8_t *pdata = tu_read(png, &plen), *expect = tu_read(raw, &rlen);
	assert_non_null(pdata);
	assert_int_equal(rlen, (size_t)w * h * 3);
	struct cl_rgb img;
	int e = cl_image_decode(pdata, plen, &img, why, sizeof(why));
	if (e < 0)
		fail_msg("%s: %s", kind, why);
	assert_int_equal(img.w, w);
	assert_int_equal(img.h, h);
	if (memcmp(img.px, expect, rlen) != 0)
		fail_msg("%s: decoded pixels differ from the encoder's", kind);

	/* Every truncation either fails cleanly or (cut inside the trailing
	 * IEND chunk, all pixels present) gives the same pixels. */
	for (size_t cut = 0; cut < plen; cut += plen / 17 + 1) {
		struct cl_rgb bad;
		if (cl_image_decode(pdata, cut, &bad, why, sizeof(why)) < 0) {
			assert_null(bad.px);
			continue;
		}
		assert_true(cut >= plen - 12);
		assert_memory_equal(bad.px, expect, rlen);
		cl_rgb_free(&bad);
	}
	cl_rgb_free(&img);
	free(pdata);
	free(expect);
}

static void test_png(void **state)
{
	png_case("rgb8", 37, 23);
	png_case("gray8", 16, 9);
	png_case("rgba8", 5, 31);
	png_case("rgb16", 11, 7);
	png_case("pal8", 40, 3);
}

/* Encode an RGB image as JPEG with libjpeg (4:4:4, quality q). */
static uint8_t *jpeg_encode(const uint8_t *px, unsigned w, unsigned h, int comps, int q,
			    unsigned long *ret_len)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_mem_dest(&ci, &out, ret_len);
	ci.image_width = w;
	ci.image_height = h;
	ci.input_components = comps;
	ci.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, q, TRUE);
	for (int c = 0; c < ci.num_components; c++)
		ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < h) {
		JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * comps);
		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	return out;
}

static void test_jpeg(void **state)
{
	const unsigned w = 64, h = 48;
	uint8_t *px = malloc(w * h * 3);
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++) {
			uint8_t *p = px + (y * w + x) * 3;
			p[0] = (uint8_t)(x * 4);
			p[1] = (uint8_t)(y * 5);
			p[2] = (uint8_t)(128 + 60 * sin(x * 0.2) * cos(y * 0.15));
		}
	unsigned long len;
	uint8_t *jpg = jpeg_encode(px, w, h, 3, 100, &len);
	struct cl_rgb img;
	char why[200];
	assert_int_equal(cl_image_decode(jpg, len, &img, why, sizeof(why)), 0);
	assert_int_equal(img.w, w);
	assert_int_equal(img.h, h);
	int maxdiff = 0;
	for (size_t i = 0; i < (size_t)w * h * 3; i++) {
		int d = abs((int)img.px[i] - (int)px[i]);
		if (d > maxdiff)
			maxdiff = d;
	}
	/* Quality 100, 4:4:4: only rounding in the DCT and colour transform. */
	if (maxdiff > 4)
		fail_msg("JPEG round trip differs by %d (channel order or colour space wrong?)", maxdiff);
	cl_rgb_free(&img);

	/* Truncated and corrupted streams are refused, never crash. */
	assert_int_equal(cl_image_decode(jpg, len / 2, &img, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "JPEG"));
	uint8_t *bad = malloc(len);
	memcpy(bad, jpg, len);
	for (size_t i = 200; i < len - 2; i += 7)
		bad[i] ^= 0x55;
	int e = cl_image_decode(bad, len, &img, why, sizeof(why));
	if (e == 0)
		cl_rgb_free(&img); /* libjpeg may decode garbage entropy data as pixels */
	else
		assert_null(img.px);

	/* Dimensions above the cap: patch the SOF0 marker. */
	memcpy(bad, jpg, len);
	for (size_t i = 0; i + 9 < len; i++) {
		if (bad[i] == 0xff && bad[i + 1] == 0xc0) {
			bad[i + 5] = 0xfd; /* height 65000 */
			bad[i + 6] = 0xe8;
			bad[i + 7] = 0xfd; /* width 65000 */
			bad[i + 8] = 0xe8;
			break;
		}
	}
	assert_int_equal(cl_image_decode(bad, len, &img, why, sizeof(why)), CC_E_TOOBIG);
	free(bad);
	free(jpg);

	/* Grayscale JPEG comes out as R = G = B. */
	uint8_t gray[32 * 8];
	for (unsigned i = 0; i < sizeof(gray); i++)
		gray[i] = (uint8_t)(i * 3);
	jpg = jpeg_encode(gray, 32, 8, 1, 95, &len);
	assert_int_equal(cl_image_decode(jpg, len, &img, why, sizeof(why)), 0);
	for (size_t i = 0; i < 32 * 8; i++) {
		assert_int_equal(img.px[3 * i], img.px[3 * i + 1]);
		assert_int_equal(img.px[3 * i], img.px[3 * i + 2]);
	}
	cl_rgb_free(&img);
	free(jpg);
	free(px);
}

static void test_not_an_image(void **state)
{
	struct cl_rgb img;
	char why[200];
	assert_int_equal(cl_image_decode((const uint8_t *)"GIF89a", 6, &img, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a JPEG or PNG"));
	assert_int_equal(cl_image_decode(NULL, 0, &img, why, sizeof(why)), -EINVAL);
	const uint8_t soi[] = { 0xff, 0xd8, 0xff, 0xd9 };
	assert_int_equal(cl_image_decode(soi, sizeof(soi), &img, why, sizeof(why)), -EINVAL);
	/* A PNG header announcing 100000 x 1 pixels. */
	uint8_t png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
			  0, 1, 0x86, 0xa0, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0, 0, 0, 0 };
	/* CRC of the IHDR chunk, so libpng accepts the header. */
	uint32_t crc = 0xffffffffu;
	for (size_t i = 12; i < 29; i++) {
		crc ^= png[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	crc ^= 0xffffffffu;
	png[29] = (uint8_t)(crc >> 24);
	png[30] = (uint8_t)(crc >> 16);
	png[31] = (uint8_t)(crc >> 8);
	png[32] = (uint8_t)crc;
	int e = cl_image_decode(png, sizeof(png), &img, why, sizeof(why));
	assert_true(e == CC_E_TOOBIG || e == -EINVAL);
	assert_null(img.px);
}

static void resize_case(unsigned w, unsigned h, unsigned ow, unsigned oh, enum cl_filter f,
			double crop, const char *mean, const char *std, unsigned seed)
{
	char raw[300], out[300];
	tu_path(raw, sizeof(raw), "src.raw");
	tu_path(out, sizeof(out), "ref.f32");
	struct cl_rgb img = { .w = w, .h = h, .px = malloc((size_t)w * h * 3) };
	srand(seed);
	for (size_t i = 0; i < (size_t)w * h * 3; i++)
		img.px[i] = (uint8_t)(rand() & 0xff);
	/* Add structure so resampling errors show: a diagonal ramp. */
	for (unsigned y = 0; y < h; y++)
		for (unsigned x = 0; x < w; x++)
			img.px[(y * w + x) * 3 + 1] = (uint8_t)((x + 2 * y) & 0xff);
	assert_int_equal(tu_write(raw, img.px, (size_t)w * h * 3), 0);
	struct cl_preproc p = { .out_w = ow, .out_h = oh, .filter = f, .crop = crop };
	assert_int_equal(cl_parse_triple(mean, p.mean), 0);
	assert_int_equal(cl_parse_triple(std, p.std), 0);
	char m3[64], s3[64];
	snprintf(m3, sizeof(m3), "%.9g,%.9g,%.9g", p.mean[0], p.mean[1], p.mean[2]);
	snprintf(s3, sizeof(s3), "%.9g,%.9g,%.9g", p.std[0], p.std[1], p.std[2]);
	assert_int_equal(tu_ref(NULL, 0, "resize %s %u %u %u %u %s %.17g %s %s %s", raw, w, h, ow, oh,
				cl_filter_name(f), crop, m3, s3, out), 0);
	size_t rlen;
	float *ref = tu_read(out, &rlen);
	assert_int_equal(rlen, (size_t)ow * oh * 3 * sizeof(float));
	float *got = malloc(rlen);
	assert_int_equal(cl_image_preprocess(&img, &p, got), 0);
	double maxerr = 0;
	size_t worst = 0;
	for (size_t i = 0; i < (size_t)ow * oh * 3; i++) {
		double d = fabs((double)got[i] - ref[i]) * p.std[i % 3];
		if (d > maxerr) {
			maxerr = d;
			worst = i;
		}
	}
	/* In 0..255 units: float32 accumulation against float64. */
	if (maxerr > 2e-3)
		fail_msg("%ux%u -> %ux%u %s crop %g: max error %g at %zu (got %g, numpy %g)", w, h, ow, oh,
			 cl_filter_name(f), crop, maxerr, worst, got[worst], ref[worst]);
	free(got);
	free(ref);
	cl_rgb_free(&img);
}

static void test_resize_numpy(void **state)
{
	resize_case(640, 480, 224, 224, CL_FILTER_BILINEAR, 0.875, "0", "1", 1);
	resize_case(640, 480, 224, 224, CL_FILTER_LANCZOS3, 0.875, "123.68,116.78,103.94", "58.4,57.1,57.4", 2);
	resize_case(100, 50, 224, 224, CL_FILTER_BILINEAR, 1, "0", "1", 3);
	resize_case(100, 50, 224, 224, CL_FILTER_LANCZOS3, 1, "127.5", "127.5", 4);
	resize_case(3000, 20, 30, 30, CL_FILTER_BILINEAR, 1, "0", "1", 5);
	resize_case(1, 1, 5, 7, CL_FILTER_LANCZOS3, 1, "0", "1", 6);
	resize_case(299, 301, 17, 13, CL_FILTER_LANCZOS3, 0.5, "0", "1", 7);
}

static void test_identity(void **state)
{
	/* Same size, no crop, bilinear: each output is its source pixel. */
	const unsigned n = 9;
	struct cl_rgb img = { .w = n, .h = n, .px = malloc(n * n * 3) };
	for (unsigned i = 0; i < n * n * 3; i++)
		img.px[i] = (uint8_t)(i * 7);
	struct cl_preproc p = { .out_w = n, .out_h = n, .filter = CL_FILTER_BILINEAR, .crop = 1,
				.mean = { 10, 20, 30 }, .std = { 2, 4, 8 } };
	float out[9 * 9 * 3];
	assert_int_equal(cl_image_preprocess(&img, &p, out), 0);
	for (unsigned i = 0; i < n * n * 3; i++)
		assert_true(fabsf(out[i] - (img.px[i] - p.mean[i % 3]) / p.std[i % 3]) < 1e-4f);

	p.std[1] = 0;
	assert_int_equal(cl_image_preprocess(&img, &p, out), -EINVAL);
	p.std[1] = 1;
	p.crop = 0;
	assert_int_equal(cl_image_preprocess(&img, &p, out), -EINVAL);
	p.crop = 1;
	p.out_w = 0;
	assert_int_equal(cl_image_preprocess(&img, &p, out), -EINVAL);
	cl_rgb_free(&img);
}

static void test_crop_region(void **state)
{
	double x0, y0, w, h;
	cl_image_crop_region(640, 480, 224, 224, 0.875, &x0, &y0, &w, &h);
	assert_true(fabs(w - 420) < 1e-9 && fabs(h - 420) < 1e-9);
	assert_true(fabs(x0 - 110) < 1e-9 && fabs(y0 - 30) < 1e-9);
	cl_image_crop_region(100, 400, 200, 100, 1, &x0, &y0, &w, &h);
	assert_true(fabs(w - 100) < 1e-9 && fabs(h - 50) < 1e-9);
	assert_true(fabs(x0) < 1e-9 && fabs(y0 - 175) < 1e-9);
}

static int teardown(void **state)
{
	tu_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png),
		cmocka_unit_test(test_jpeg),
		cmocka_unit_test(test_not_an_image),
		cmocka_unit_test(test_resize_numpy),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_crop_region),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
