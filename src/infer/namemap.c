/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small open-addressing map from borrowed name strings to ints, shared by
 * the TF and ONNX importers (FNV-1a, linear probing, load factor <= 1/2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct name_map_slot {
	const char *key;
	int val;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

int name_map_get(const struct name_map *m, const char *key)
{
	if (!m->cap || !key)
		return -1;
	size_t j = name_hash(key) & (m->cap - 1);
	while (m->slot[j].key) {
		if (!strcmp(m->slot[j].key, key))
			return m->slot[j].val;
		j = (j + 1) & (m->cap - 1);
	}
	return -1;
}

int name_map_put(struct name_map *m, const char *key, int val)
{
	if ((m->count + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		struct name_map_slot *nt = calloc(nc, sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slot[i].key)
				continue;
			size_t j = name_hash(m->slot[i].key) & (nc - 1);
			while (nt[j].key)
				j = (j + 1) & (nc - 1);
			nt[j] = m->slot[i];
		}
		free(m->slot);
		m->slot = nt;
		m->cap = nc;
	}
	size_t j = name_hash(key) & (m->cap - 1);
	while (m->slot[j].key) {
		if (!strcmp(m->slot[j].key, key))
			return -EEXIST;
		j = (j + 1) & (m->cap - 1);
	}
	m->slot[j].key = key;
	m->slot[j].val = val;
	m->count++;
	return 0;
}

void name_map_free(struct name_map *m)
{
	free(m->slot);
	m->slot = NULL;
	m->cap = m->count = 0;
}
