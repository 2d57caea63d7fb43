/* SPDX-License-Identifier: Apache-2.0 */
#include "labels.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/util.h"

void cl_labels_free(struct cl_labels *l)
{
	if (!l)
		return;
	free(l->names);
	free(l->blob);
	memset(l, 0, sizeof(*l));
}

int cl_labels_parse(const char *data, size_t len, struct cl_labels *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (len && !data)
		return -EINVAL;
	if (memchr(data, '\0', len))
		return CC_E_SYNTAX;
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\n')
			lines++;
	if (len && data[len - 1] != '\n')
		lines++;
	if (lines > CL_LABELS_MAX_COUNT)
		return CC_E_TOOBIG;
	char *blob = malloc(len + 1);
	char **names = calloc(lines ? lines : 1, sizeof(char *));
	if (!blob || !names) {
		free(blob);
		free(names);
		return -ENOMEM;
	}
	if (len)
		memcpy(blob, data, len);
	blob[len] = '\0';
	size_t n = 0;
	char *p = blob, *end = blob + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl ? nl : end;
		if (stop > p && stop[-1] == '\r')
			stop[-1] = '\0';
		*stop = '\0';
		if (strlen(p) > CL_LABEL_MAX_LEN) {
			free(blob);
			free(names);
			return CC_E_TOOBIG;
		}
		names[n++] = p;
		p = nl ? nl + 1 : end;
	}
	ret->n = n;
	ret->names = names;
	ret->blob = blob;
	return 0;
}

int cl_labels_load(const char *path, struct cl_labels *ret)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int e = cc_file_read(path, CL_LABELS_MAX_FILE, false, &data, &len);
	if (e < 0)
		return e;
	e = cl_labels_parse((const char *)data, len, ret);
	free(data);
	return e;
}

const char *cl_labels_get(const struct cl_labels *l, size_t nclasses, size_t cls)
{
	if (!l || cls >= nclasses)
		return NULL;
	if (l->n + 1 == nclasses) {
		if (cls == 0)
			return "background";
		return l->names[cls - 1];
	}
	return cls < l->n ? l->names[cls] : NULL;
}

static bool better(const float *v, size_t a, size_t b)
{
	/* Is a ranked before b? */
	bool na = isnan(v[a]), nb = isnan(v[b]);
	if (na != nb)
		return nb;
	if (!na && v[a] != v[b])
		return v[a] > v[b];
	return a < b;
}

size_t cl_topk(const float *v, size_t n, size_t k, size_t *ret_idx)
{
	size_t m = 0;
	if (!v || !ret_idx || k == 0)
		return 0;
	if (k > n)
		k = n;
	/* Insertion into a sorted array of k: O(n·k), k is small. */
	for (size_t i = 0; i < n; i++) {
		if (m == k && !better(v, i, ret_idx[m - 1]))
			continue;
		size_t pos = m < k ? m++ : k - 1;
		while (pos > 0 && better(v, i, ret_idx[pos - 1])) {
			ret_idx[pos] = ret_idx[pos - 1];
			pos--;
		}
		ret_idx[pos] = i;
	}
	return m;
}
