/* SPDX-License-Identifier: Apache-2.0 */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define W 960
#define H 780
#define ML 80   /* left margin */
#define MR 30
#define PW (W - ML - MR)
#define H1_TOP 86
#define H1_H 260
#define H2_TOP 440
#define H2_H 260

int cl_xml_escape(struct cc_buf *out, const char *s)
{
	int e = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && e >= 0; p++) {
		switch (*p) {
		case '<': e = cc_buf_puts(out, "&lt;"); break;
		case '>': e = cc_buf_puts(out, "&gt;"); break;
		case '&': e = cc_buf_puts(out, "&amp;"); break;
		case '"': e = cc_buf_puts(out, "&quot;"); break;
		case '\'': e = cc_buf_puts(out, "&apos;"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				break;
			e = cc_buf_putc(out, (char)*p);
		}
	}
	return e;
}

/* Format a tick label without trailing zeros. */
static void fmt_num(char *buf, size_t sz, double v, double step)
{
	int decimals = 0;
	while (decimals < 6 && fabs(step * pow(10, decimals) - round(step * pow(10, decimals))) > 1e-9)
		decimals++;
	snprintf(buf, sz, "%.*f", decimals, fabs(v) < 1e-12 ? 0.0 : v);
}

static int axes(struct cc_buf *b, int top, int h, double x0, double x1, double y0, double y1,
		const char *xlabel, const char *ylabel)
{
	int e = cc_buf_printf(b,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#888\"/>\n",
		ML, top, PW, h);
	double xs = cl_nice_step(x1 - x0, 8), ys = cl_nice_step(y1 - y0, 5);
	char lab[64];
	for (double v = ceil(x0 / xs) * xs; e >= 0 && v <= x1 + xs * 1e-9; v += xs) {
		double px = ML + (v - x0) / (x1 - x0) * PW;
		fmt_num(lab, sizeof(lab), v, xs);
		e = cc_buf_printf(b,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#888\"/>"
			"<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			px, top + h, px, top + h + 5, px, top + h + 19, lab);
	}
	for (double v = ceil(y0 / ys) * ys; e >= 0 && v <= y1 + ys * 1e-9; v += ys) {
		double py = top + h - (v - y0) / (y1 - y0) * h;
		fmt_num(lab, sizeof(lab), v, ys);
		e = cc_buf_printf(b,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			ML, py, ML + PW, py, ML - 6, py + 4, lab);
	}
	if (e >= 0)
		e = cc_buf_printf(b,
			"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
			"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">%s</text>\n",
			ML + PW / 2, top + h + 40, xlabel, 22, top + h / 2, 22, top + h / 2, ylabel);
	return e;
}

int cl_plot_svg(struct cc_buf *b, const char *title, const struct cl_point *pts, size_t n)
{
	int e;
	double *lat = NULL;
	uint64_t *counts = NULL;
	size_t nok = 0;

	e = cc_buf_printf(b,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		"<text x=\"%d\" y=\"28\" font-size=\"16\" font-weight=\"bold\">",
		W, H, W, H, ML);
	if (e >= 0)
		e = cl_xml_escape(b, title ? title : "ccclient");
	if (e >= 0)
		e = cc_buf_puts(b, "</text>\n");
	if (e < 0)
		return e;

	if (n) {
		size_t bytes;
		if (!cc_mul_ok(n, sizeof(double), &bytes) || !(lat = malloc(bytes)))
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (pts[i].ok)
			lat[nok++] = pts[i].latency_ms;

	if (nok == 0) {
		e = cc_buf_printf(b, "<text x=\"%d\" y=\"%d\">no successful requests to plot</text>\n",
				  ML, H1_TOP + 40);
		if (e < 0)
			goto out;
		goto close;
	}

	struct cl_summary s;
	if ((e = cl_summarize(lat, nok, &s)) < 0)
		goto out;
	e = cc_buf_printf(b,
		"<text x=\"%d\" y=\"48\">%zu requests: mean %.2f ms, p50 %.2f, p90 %.2f, p99 %.2f, max %.2f</text>\n",
		ML, nok, s.mean, s.p50, s.p90, s.p99, s.max);
	if (e < 0)
		goto out;

	/* Histogram. */
	size_t nbins = (size_t)sqrt((double)nok);
	if (nbins < 10)
		nbins = 10;
	if (nbins > 60)
		nbins = 60;
	double lo = s.min, hi = s.max;
	if (hi - lo < 1e-3) {
		lo -= 0.5;
		hi += 0.5;
		if (lo < 0)
			lo = 0;
	}
	if (!(counts = calloc(nbins, sizeof(*counts)))) {
		e = -ENOMEM;
		goto out;
	}
	if ((e = cl_histogram(lat, nok, lo, hi, nbins, counts)) < 0)
		goto out;
	uint64_t cmax = 1;
	for (size_t i = 0; i < nbins; i++)
		if (counts[i] > cmax)
			cmax = counts[i];
	double ytop = cl_nice_step((double)cmax, 5);
	ytop = ceil((double)cmax / ytop) * ytop;
	e = cc_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">Latency histogram</text>\n",
			  ML, H1_TOP - 8);
	if (e >= 0)
		e = axes(b, H1_TOP, H1_H, lo, hi, 0, ytop, "latency (ms)", "requests");
	if (e >= 0)
		e = cc_buf_puts(b, "<g class=\"histogram\" fill=\"#4a7fc1\" stroke=\"#2d5a94\">\n");
	double bw = (double)PW / nbins;
	for (size_t i = 0; e >= 0 && i < nbins; i++) {
		double bh = (double)counts[i] / ytop * H1_H;
		e = cc_buf_printf(b,
			"<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"><title>%llu</title></rect>\n",
			ML + i * bw, H1_TOP + H1_H - bh, bw, bh, (unsigned long long)counts[i]);
	}
	if (e >= 0)
		e = cc_buf_puts(b, "</g>\n");
	const double marks[] = { s.p50, s.p99 };
	const char *mnames[] = { "p50", "p99" };
	for (size_t i = 0; e >= 0 && i < 2; i++) {
		double px = ML + (marks[i] - lo) / (hi - lo) * PW;
		e = cc_buf_printf(b,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#c03\" stroke-dasharray=\"4 3\"/>"
			"<text x=\"%.1f\" y=\"%d\" fill=\"#c03\">%s</text>\n",
			px, H1_TOP, px, H1_TOP + H1_H, px + 3, H1_TOP + 14 + 14 * (int)i, mnames[i]);
	}
	if (e < 0)
		goto out;

	/* Latency over time. */
	double tmax = 0, lmax = s.max;
	for (size_t i = 0; i < n; i++) {
		if (pts[i].t_s > tmax)
			tmax = pts[i].t_s;
		if (!pts[i].ok && pts[i].latency_ms > lmax)
			lmax = pts[i].latency_ms;
	}
	if (tmax <= 0)
		tmax = 1e-3;
	double ys = cl_nice_step(lmax, 5);
	double ymax = ceil(lmax / ys) * ys;
	if (ymax <= 0)
		ymax = 1;
	size_t stride = n > CL_PLOT_MAX_POINTS ? (n + CL_PLOT_MAX_POINTS - 1) / CL_PLOT_MAX_POINTS : 1;
	e = cc_buf_printf(b, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">Latency over time%s</text>\n",
			  ML, H2_TOP - 8, stride > 1 ? " (every request shown would be too many: evenly sampled)" : "");
	if (e >= 0)
		e = axes(b, H2_TOP, H2_H, 0, tmax, 0, ymax, "time since start (s)", "latency (ms)");
	if (e >= 0)
		e = cc_buf_puts(b, "<g class=\"timeline\">\n");
	for (size_t i = 0; e >= 0 && i < n; i += stride) {
		double px = ML + pts[i].t_s / tmax * PW;
		double py = H2_TOP + H2_H - pts[i].latency_ms / ymax * H2_H;
		if (py < H2_TOP)
			py = H2_TOP;
		e = cc_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\" fill=\"%s\"/>\n",
				  px, py, pts[i].ok ? "#4a7fc1" : "#d22");
	}
	if (e >= 0)
		e = cc_buf_puts(b, "</g>\n");
	if (e < 0)
		goto out;
close:
	e = cc_buf_puts(b, "</svg>\n");
out:
	free(lat);
	free(counts);
	return e < 0 ? e : 0;
}
