/* SPDX-License-Identifier: Apache-2.0 */
/*
 * 3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) and
 * F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), for AVX2+FMA CPUs, where oneDNN 2.6 has no Winograd
 * kernel.
 *
 * An m x m output tile comes from an a x a input tile (a = m + 2):
 * Y = A^T [U (.) V] A with V = B^T d B (input transform) and U = G g G^T
 * (weights, transformed once at load).  Summed over input channels, the
 * a*a element-wise products become a*a independent matrix products
 * M[p] = V[p] x U[p] of (tiles x C) by (C x K).  F(4x4): 36 multiplies
 * per 16 outputs where direct convolution needs 144 (4x fewer flops),
 * weights 4x larger; F(2x2): 16 per 4 (2.25x fewer), weights 1.8x larger.
 * F(2x2) wins where few tiles share the weights (small images, batch 1),
 * since then reading the weights is the cost.  Rounding error stays close
 * to direct convolution's (measured in bench/infer/bench_wino).
 *
 * Layouts: activations are oneDNN's nChw8c (8 channels per 32-byte
 * vector, what oneDNN picks for convolutions on AVX2), so each pixel's
 * 8 channels are one register in both transforms.  P = a*a positions:
 *   U: [P][K/16][C][16]      weights per position, 16 output channels
 *   V: [P][B][C]             one block of B tiles
 *   M: [P][B][K]
 * (the strides between positions are padded by a cache line).  Tiles are
 * processed in blocks of B, sized so that V and M of a block stay in
 * cache; inside a block the team splits the input transform by (tile,
 * channel block), the products by (position, 16 output channels) and the
 * output transform by (tile, 8 output channels).  The 6x16 register kernel
 * keeps 12 accumulators and reads a 16-wide row of U and 6 broadcasts of
 * V per input channel; the last rows of a block take a smaller one.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WINO_X86 1
#include <immintrin.h>
#define WT __attribute__((target("avx2,fma")))
#endif

enum { KB = 16, ROWS = 6 };

static int npos(int m)
{
	return (m + 2) * (m + 2);
}

bool wino_cpu_ok(void)
{
#ifdef WINO_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return false;
#endif
}

bool wino_shape_ok(int64_t C, int64_t K)
{
	/* C * K bounded: the F(4x4) weights take 36 * C * K floats (<= 288 MiB) */
	return C >= 8 && K >= 16 && C % 8 == 0 && K % KB == 0 && C <= 8192 && K <= 8192 &&
	       C * K <= ((int64_t)1 << 21);
}

size_t wino_weights_size(int64_t C, int64_t K, int m)
{
	return (size_t)npos(m) * (size_t)C * (size_t)K * sizeof(float);
}

/* U = G g G^T for every (k, c), in double, stored [P][K/16][C][16]. */
void wino_transform_weights(const float *oihw, int64_t K, int64_t C, int m, float *u)
{
	static const double G2[4][3] = {
		{ 1, 0, 0 },
		{ 0.5, 0.5, 0.5 },
		{ 0.5, -0.5, 0.5 },
		{ 0, 0, 1 },
	};
	static const double G4[6][3] = {
		{ 1.0 / 4, 0, 0 },
		{ -1.0 / 6, -1.0 / 6, -1.0 / 6 },
		{ -1.0 / 6, 1.0 / 6, -1.0 / 6 },
		{ 1.0 / 24, 1.0 / 12, 1.0 / 6 },
		{ 1.0 / 24, -1.0 / 12, 1.0 / 6 },
		{ 0, 0, 1 },
	};
	const double(*G)[3] = m == 2 ? G2 : G4;
	int a = m + 2;
	for (int64_t k = 0; k < K; k++)
		for (int64_t c = 0; c < C; c++) {
			const float *g = oihw + (k * C + c) * 9;
			double t[6][3];
			for (int i = 0; i < a; i++)
				for (int b = 0; b < 3; b++)
					t[i][b] = G[i][0] * g[0 * 3 + b] + G[i][1] * g[1 * 3 + b] +
						  G[i][2] * g[2 * 3 + b];
			for (int i = 0; i < a; i++)
				for (int j = 0; j < a; j++) {
					double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] +
						   t[i][2] * G[j][2];
					size_t p = (size_t)(i * a + j);
					u[((p * (size_t)(K / KB) + (size_t)(k / KB)) * (size_t)C +
					   (size_t)c) * KB + (size_t)(k % KB)] = (float)v;
				}
		}
}

void wino_plan(struct wino_conv *w, size_t block_bytes)
{
	w->th = (w->OH + w->m - 1) / w->m;
	w->tw = (w->OW + w->m - 1) / w->m;
	w->tiles = w->N * w->th * w->tw;
	int64_t per_tile = (int64_t)npos(w->m) * (w->C + w->K) * (int64_t)sizeof(float);
	/* Small transformed weights stay in cache across blocks: blocks sized
	 * for L2.  Large ones are read from memory once per block: blocks as
	 * large as L3 allows (bench/infer/bench_wino). */
	if (!block_bytes)
		block_bytes = wino_weights_size(w->C, w->K, w->m) <= ((size_t)4 << 20) ?
			      ((size_t)1 << 20) : ((size_t)16 << 20);
	int64_t b = (int64_t)block_bytes / per_tile;
	b = b / ROWS * ROWS;
	if (b < ROWS)
		b = ROWS;
	if (b > 480)
		b = 480;
	int64_t t6 = (w->tiles + ROWS - 1) / ROWS * ROWS;
	if (b > t6)
		b = t6;
	w->blk = b;
	/* position strides padded by a cache line: a multiple of 1 KiB would
	 * put the 36 positions of a tile in a few L1 sets */
	w->vstride = b * w->C + 16;
	w->mstride = b * w->K + 16;
}

size_t wino_scratch_size(const struct wino_conv *w)
{
	return (size_t)npos(w->m) * (size_t)(w->vstride + w->mstride) * sizeof(float) + 64;
}

#ifdef WINO_X86

/* B^T d over 6 vectors; result k goes to o[k * os] */
static inline WT void bt6(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 d4, __m256 d5,
			  __m256 *o, int os)
{
	const __m256 c2 = _mm256_set1_ps(2), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5);
	__m256 t1 = _mm256_fnmadd_ps(c4, d2, d4);
	__m256 t2 = _mm256_fnmadd_ps(c4, d1, d3);
	__m256 t3 = _mm256_sub_ps(d4, d2);
	__m256 t4 = _mm256_mul_ps(c2, _mm256_sub_ps(d3, d1));
	o[0 * os] = _mm256_fmadd_ps(c4, d0, _mm256_fnmadd_ps(c5, d2, d4));
	o[1 * os] = _mm256_add_ps(t1, t2);
	o[2 * os] = _mm256_sub_ps(t1, t2);
	o[3 * os] = _mm256_add_ps(t3, t4);
	o[4 * os] = _mm256_sub_ps(t3, t4);
	o[5 * os] = _mm256_fmadd_ps(c4, d1, _mm256_fnmadd_ps(c5, d3, d5));
}

/* the same, storing result k at o + k * os floats */
static inline WT void bt6_store(const __m256 *d, float *o, size_t os)
{
	const __m256 c2 = _mm256_set1_ps(2), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5);
	__m256 t1 = _mm256_fnmadd_ps(c4, d[2], d[4]);
	__m256 t2 = _mm256_fnmadd_ps(c4, d[1], d[3]);
	__m256 t3 = _mm256_sub_ps(d[4], d[2]);
	__m256 t4 = _mm256_mul_ps(c2, _mm256_sub_ps(d[3], d[1]));
	_mm256_storeu_ps(o, _mm256_fmadd_ps(c4, d[0], _mm256_fnmadd_ps(c5, d[2], d[4])));
	_mm256_storeu_ps(o + os, _mm256_add_ps(t1, t2));
	_mm256_storeu_ps(o + 2 * os, _mm256_sub_ps(t1, t2));
	_mm256_storeu_ps(o + 3 * os, _mm256_add_ps(t3, t4));
	_mm256_storeu_ps(o + 4 * os, _mm256_sub_ps(t3, t4));
	_mm256_storeu_ps(o + 5 * os, _mm256_fmadd_ps(c4, d[1], _mm256_fnmadd_ps(c5, d[3], d[5])));
}

/* A^T m over 6 vectors (4 results); result k goes to o[k * os] */
static inline WT void at6(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5,
			  __m256 *o, int os)
{
	const __m256 c2 = _mm256_set1_ps(2), c4 = _mm256_set1_ps(4), c8 = _mm256_set1_ps(8);
	__m256 s12 = _mm256_add_ps(m1, m2), d12 = _mm256_sub_ps(m1, m2);
	__m256 s34 = _mm256_add_ps(m3, m4), d34 = _mm256_sub_ps(m3, m4);
	o[0 * os] = _mm256_add_ps(_mm256_add_ps(m0, s12), s34);
	o[1 * os] = _mm256_fmadd_ps(c2, d34, d12);
	o[2 * os] = _mm256_fmadd_ps(c4, s34, s12);
	o[3 * os] = _mm256_add_ps(_mm256_fmadd_ps(c8, d34, d12), m5);
}

/* Input transform of tile 'tile' (global index), channel block cb, into
 * V[p][tb][cb*8..]. */
static WT void in_tile4(const struct wino_conv *w, const float *src, float *v, int64_t tile,
			int64_t tb, int64_t cb)
{
	size_t vs = (size_t)w->vstride;
	float *vo = v + (size_t)tb * (size_t)w->C + (size_t)cb * 8;
	int64_t per = w->th * w->tw, n = tile / per, r = tile % per;
	int64_t y0 = (r / w->tw) * 4 - w->pt, x0 = (r % w->tw) * 4 - w->pl;
	const float *base = src + ((size_t)(n * (w->C / 8) + cb) * (size_t)w->H) * (size_t)w->W * 8;
	size_t rs = (size_t)w->W * 8;
	__m256 t[36];
	if (y0 >= 0 && x0 >= 0 && y0 + 6 <= w->H && x0 + 6 <= w->W) {
		const float *p0 = base + ((size_t)y0 * (size_t)w->W + (size_t)x0) * 8;
		for (int j = 0; j < 6; j++) {
			const float *c = p0 + j * 8;
			bt6(_mm256_loadu_ps(c), _mm256_loadu_ps(c + rs), _mm256_loadu_ps(c + 2 * rs),
			    _mm256_loadu_ps(c + 3 * rs), _mm256_loadu_ps(c + 4 * rs),
			    _mm256_loadu_ps(c + 5 * rs), t + j, 6);
		}
	} else {
		for (int j = 0; j < 6; j++) {
			int64_t x = x0 + j;
			__m256 c[6];
			for (int i = 0; i < 6; i++) {
				int64_t y = y0 + i;
				c[i] = y >= 0 && y < w->H && x >= 0 && x < w->W ?
				       _mm256_loadu_ps(base + ((size_t)y * (size_t)w->W +
							       (size_t)x) * 8) :
				       _mm256_setzero_ps();
			}
			bt6(c[0], c[1], c[2], c[3], c[4], c[5], t + j, 6);
		}
	}
	for (int i = 0; i < 6; i++)
		bt6_store(t + i * 6, vo + (size_t)(i * 6) * vs, vs);
}

static inline WT __m256 post(const struct wino_conv *w, __m256 x)
{
	for (int i = 0; i < w->n_act; i++) {
		const struct wino_act *a = &w->act[i];
		if (a->kind == WINO_CLAMP) {
			x = _mm256_max_ps(x, _mm256_set1_ps(a->lo));
			x = _mm256_min_ps(x, _mm256_set1_ps(a->hi));
		} else { /* leaky relu: x >= 0 ? x : alpha x */
			__m256 neg = _mm256_mul_ps(x, _mm256_set1_ps(a->lo));
			__m256 m = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
			x = _mm256_blendv_ps(neg, x, m);
		}
	}
	return x;
}

/* Output transform of tile (global index), output channels k8*8.., from
 * M[p][tb][..]; adds the bias and applies the activations. */
static WT void out_tile4(const struct wino_conv *w, const float *m, float *dst, int64_t tile,
			 int64_t tb, int64_t k8)
{
	size_t ms = (size_t)w->mstride;
	const float *mi = m + (size_t)tb * (size_t)w->K + (size_t)k8 * 8;
	__m256 t[24], o[16];
	for (int j = 0; j < 6; j++) {
		const float *c = mi + (size_t)j * ms;
		at6(_mm256_loadu_ps(c), _mm256_loadu_ps(c + 6 * ms), _mm256_loadu_ps(c + 12 * ms),
		    _mm256_loadu_ps(c + 18 * ms), _mm256_loadu_ps(c + 24 * ms),
		    _mm256_loadu_ps(c + 30 * ms), t + j, 6);
	}
	for (int i = 0; i < 4; i++)
		at6(t[i * 6], t[i * 6 + 1], t[i * 6 + 2], t[i * 6 + 3], t[i * 6 + 4], t[i * 6 + 5],
		    o + i * 4, 1);
	__m256 bias = w->bias ? _mm256_loadu_ps(w->bias + k8 * 8) : _mm256_setzero_ps();
	int64_t per = w->th * w->tw, n = tile / per, r = tile % per;
	int64_t y0 = (r / w->tw) * 4, x0 = (r % w->tw) * 4;
	float *base = dst + ((size_t)(n * (w->K / 8) + k8) * (size_t)w->OH) * (size_t)w->OW * 8;
	for (int i = 0; i < 4 && y0 + i < w->OH; i++) {
		float *row = base + ((size_t)(y0 + i) * (size_t)w->OW + (size_t)x0) * 8;
		for (int j = 0; j < 4 && x0 + j < w->OW; j++)
			_mm256_storeu_ps(row + j * 8, post(w, _mm256_add_ps(o[i * 4 + j], bias)));
	}
}

/* F(2x2, 3x3): B^T d over 4 vectors, result k to o[k * os] */
static inline WT void bt4(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 *o, int os)
{
	o[0 * os] = _mm256_sub_ps(d0, d2);
	o[1 * os] = _mm256_add_ps(d1, d2);
	o[2 * os] = _mm256_sub_ps(d2, d1);
	o[3 * os] = _mm256_sub_ps(d1, d3);
}

static WT void in_tile2(const struct wino_conv *w, const float *src, float *v, int64_t tile,
			int64_t tb, int64_t cb)
{
	size_t vs = (size_t)w->vstride;
	float *vo = v + (size_t)tb * (size_t)w->C + (size_t)cb * 8;
	int64_t per = w->th * w->tw, n = tile / per, r = tile % per;
	int64_t y0 = (r / w->tw) * 2 - w->pt, x0 = (r % w->tw) * 2 - w->pl;
	const float *base = src + ((size_t)(n * (w->C / 8) + cb) * (size_t)w->H) * (size_t)w->W * 8;
	__m256 t[16], o[16];
	for (int j = 0; j < 4; j++) {
		int64_t x = x0 + j;
		__m256 c[4];
		for (int i = 0; i < 4; i++) {
			int64_t y = y0 + i;
			c[i] = y >= 0 && y < w->H && x >= 0 && x < w->W ?
			       _mm256_loadu_ps(base + ((size_t)y * (size_t)w->W + (size_t)x) * 8) :
			       _mm256_setzero_ps();
		}
		bt4(c[0], c[1], c[2], c[3], t + j, 4);
	}
	for (int i = 0; i < 4; i++)
		bt4(t[i * 4], t[i * 4 + 1], t[i * 4 + 2], t[i * 4 + 3], o + i * 4, 1);
	for (int p = 0; p < 16; p++)
		_mm256_storeu_ps(vo + (size_t)p * vs, o[p]);
}

static WT void out_tile2(const struct wino_conv *w, const float *m, float *dst, int64_t tile,
			 int64_t tb, int64_t k8)
{
	size_t ms = (size_t)w->mstride;
	const float *mi = m + (size_t)tb * (size_t)w->K + (size_t)k8 * 8;
	__m256 t[8], o[4];
	for (int j = 0; j < 4; j++) {
		const float *c = mi + (size_t)j * ms;
		__m256 m0 = _mm256_loadu_ps(c), m1 = _mm256_loadu_ps(c + 4 * ms),
		       m2 = _mm256_loadu_ps(c + 8 * ms), m3 = _mm256_loadu_ps(c + 12 * ms);
		t[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
		t[4 + j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
	}
	for (int i = 0; i < 2; i++) {
		o[i * 2] = _mm256_add_ps(_mm256_add_ps(t[i * 4], t[i * 4 + 1]), t[i * 4 + 2]);
		o[i * 2 + 1] = _mm256_sub_ps(_mm256_sub_ps(t[i * 4 + 1], t[i * 4 + 2]), t[i * 4 + 3]);
	}
	__m256 bias = w->bias ? _mm256_loadu_ps(w->bias + k8 * 8) : _mm256_setzero_ps();
	int64_t per = w->th * w->tw, n = tile / per, r = tile % per;
	int64_t y0 = (r / w->tw) * 2, x0 = (r % w->tw) * 2;
	float *base = dst + ((size_t)(n * (w->K / 8) + k8) * (size_t)w->OH) * (size_t)w->OW * 8;
	for (int i = 0; i < 2 && y0 + i < w->OH; i++) {
		float *row = base + ((size_t)(y0 + i) * (size_t)w->OW + (size_t)x0) * 8;
		for (int j = 0; j < 2 && x0 + j < w->OW; j++)
			_mm256_storeu_ps(row + j * 8, post(w, _mm256_add_ps(o[i * 2 + j], bias)));
	}
}

/* M[n rows][16] = V[n rows][C] x U[C][16], n <= 6 a constant after
 * inlining (12 accumulators at most, all in registers). */
static inline __attribute__((always_inline)) WT void
kern_rows(const float *v, size_t vs, const float *u, float *m, size_t msd, int64_t C, const int n)
{
	__m256 a0[ROWS], a1[ROWS];
#pragma GCC unroll 6
	for (int r = 0; r < n; r++)
		a0[r] = a1[r] = _mm256_setzero_ps();
	for (int64_t c = 0; c < C; c++) {
		__m256 b0 = _mm256_loadu_ps(u + c * KB), b1 = _mm256_loadu_ps(u + c * KB + 8);
#pragma GCC unroll 6
		for (int r = 0; r < n; r++) {
			__m256 x = _mm256_broadcast_ss(v + (size_t)r * vs + c);
			a0[r] = _mm256_fmadd_ps(x, b0, a0[r]);
			a1[r] = _mm256_fmadd_ps(x, b1, a1[r]);
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < n; r++) {
		_mm256_storeu_ps(m + (size_t)r * msd, a0[r]);
		_mm256_storeu_ps(m + (size_t)r * msd + 8, a1[r]);
	}
}

/* Rows [0, n) of one (position, 16 output channels) product. */
static WT void gemm_rows(const float *v, size_t vs, const float *u, float *m, size_t msd,
			 int64_t C, int64_t n)
{
	int64_t r = 0;
	for (; r + ROWS <= n; r += ROWS)
		kern_rows(v + (size_t)r * vs, vs, u, m + (size_t)r * msd, msd, C, 6);
	v += (size_t)r * vs;
	m += (size_t)r * msd;
	switch (n - r) {
	case 5: kern_rows(v, vs, u, m, msd, C, 5); break;
	case 4: kern_rows(v, vs, u, m, msd, C, 4); break;
	case 3: kern_rows(v, vs, u, m, msd, C, 3); break;
	case 2: kern_rows(v, vs, u, m, msd, C, 2); break;
	case 1: kern_rows(v, vs, u, m, msd, C, 1); break;
	default: break;
	}
}

WT void wino_run(const struct wino_conv *w, const float *src, float *dst, void *scratch,
		 int threads)
{
	float *v = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
	const int np = npos(w->m);
	float *m = v + (size_t)np * (size_t)w->vstride;
	int64_t CB = w->C / 8, KB16 = w->K / KB, K8 = w->K / 8;
#pragma omp parallel num_threads(threads)
	for (int64_t t0 = 0; t0 < w->tiles; t0 += w->blk) {
		int64_t nb = w->tiles - t0 < w->blk ? w->tiles - t0 : w->blk;
#pragma omp for schedule(static)
		for (int64_t i = 0; i < nb * CB; i++)
			(w->m == 2 ? in_tile2 : in_tile4)(w, src, v, t0 + i / CB, i / CB, i % CB);
#pragma omp for schedule(static)
		for (int64_t i = 0; i < np * KB16; i++) {
			int64_t p = i / KB16, kb = i % KB16;
			const float *vp = v + (size_t)p * (size_t)w->vstride;
			const float *up = w->u + ((size_t)p * (size_t)KB16 + (size_t)kb) *
							 (size_t)w->C * KB;
			float *mp = m + (size_t)p * (size_t)w->mstride + (size_t)kb * KB;
			gemm_rows(vp, (size_t)w->C, up, mp, (size_t)w->K, w->C, nb);
		}
#pragma omp for schedule(static)
		for (int64_t i = 0; i < nb * K8; i++)
			(w->m == 2 ? out_tile2 : out_tile4)(w, m, dst, t0 + i / K8, i / K8, i % K8);
	}
}

#else

void wino_run(const struct wino_conv *w, const float *src, float *dst, void *scratch,
	      int threads)
{
	(void)w, (void)src, (void)dst, (void)scratch, (void)threads;
	abort(); /* never planned: wino_cpu_ok() is false */
}

#endif
