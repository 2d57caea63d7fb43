/* SPDX-License-Identifier: Apache-2.0 */
/* The --plot SVG: a latency histogram and latency over time. */
#ifndef CCCLIENT_PLOT_H
#define CCCLIENT_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "ccserve/util.h"

struct cl_point {
	double t_s;        /* request start, seconds since the measured run began */
	double latency_ms;
	bool ok;
};

/* At most this many points are drawn in the time plot (evenly strided). */
#define CL_PLOT_MAX_POINTS 20000u

/* Append a complete SVG document to out.  title is escaped.  n may be 0 (an
 * empty plot saying so).  Errors from the buffer (-ENOMEM, CC_E_TOOBIG). */
int cl_plot_svg(struct cc_buf *out, const char *title, const struct cl_point *pts, size_t n);

/* Append s with XML's five special characters escaped and control
 * characters dropped. */
int cl_xml_escape(struct cc_buf *out, const char *s);

#endif
