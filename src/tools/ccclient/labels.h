/* SPDX-License-Identifier: Apache-2.0 */
/* Class labels (one per line) and top-K selection. */
#ifndef CCCLIENT_LABELS_H
#define CCCLIENT_LABELS_H

#include <stddef.h>
#include <stdint.h>

#define CL_LABELS_MAX_FILE (16u << 20)
#define CL_LABELS_MAX_COUNT 1000000u
#define CL_LABEL_MAX_LEN 1024u

struct cl_labels {
	size_t n;
	char **names; /* n strings; the whole set is owned by the struct */
	char *blob;
};

/* Parse a labels file body: one label per line, '\n' or "\r\n" endings, a
 * trailing newline optional; empty lines are kept as empty labels (they
 * occupy an index).  Errors: CC_E_TOOBIG (too many / too long), CC_E_SYNTAX
 * (NUL byte), -ENOMEM. */
int cl_labels_parse(const char *data, size_t len, struct cl_labels *ret);
int cl_labels_load(const char *path, struct cl_labels *ret);
void cl_labels_free(struct cl_labels *l);

/* Label for class index cls of a model with nclasses outputs: when the file
 * has exactly nclasses - 1 labels (ImageNet models with a background class
 * 0), class 0 is "background" and class k is label k - 1.  NULL if none. */
const char *cl_labels_get(const struct cl_labels *l, size_t nclasses, size_t cls);

/* Indices of the k largest of v[0..n) in descending order (ties: lower
 * index first; NaN ranks last).  Returns how many were written (min(k, n)). */
size_t cl_topk(const float *v, size_t n, size_t k, size_t *ret_idx);

#endif
