/* SPDX-License-Identifier: Apache-2.0 */
/* TF Serving's canonical status codes, their names and its HTTP mapping. */
#include "serve-internal.h"

int serve_status_set(struct serve_status *st, enum serve_code code, const char *fmt, ...)
{
	if (st) {
		st->code = code;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
	}
	return -(int)code;
}

const char *serve_code_name(enum serve_code code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	if ((unsigned)code < CC_ARRAY_SIZE(names))
		return names[code];
	return "UNKNOWN";
}

/* The mapping TF Serving's HTTP server applies to a failed request. */
int serve_code_http_status(enum serve_code code)
{
	switch (code) {
	case SERVE_OK:
		return 200;
	case SERVE_CANCELLED:
		return 499;
	case SERVE_UNKNOWN:
	case SERVE_INTERNAL:
	case SERVE_DATA_LOSS:
		return 500;
	case SERVE_INVALID_ARGUMENT:
	case SERVE_FAILED_PRECONDITION:
	case SERVE_OUT_OF_RANGE:
		return 400;
	case SERVE_DEADLINE_EXCEEDED:
		return 504;
	case SERVE_NOT_FOUND:
		return 404;
	case SERVE_ALREADY_EXISTS:
	case SERVE_ABORTED:
		return 409;
	case SERVE_PERMISSION_DENIED:
		return 403;
	case SERVE_RESOURCE_EXHAUSTED:
		return 429;
	case SERVE_UNIMPLEMENTED:
		return 501;
	case SERVE_UNAVAILABLE:
		return 503;
	case SERVE_UNAUTHENTICATED:
		return 401;
	}
	return 500;
}

bool serve_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

uint16_t serve_float_to_half(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000u;
	uint32_t mant = x & 0x7fffffu;
	int32_t exp = (int32_t)((x >> 23) & 0xff);
	if (exp == 0xff)
		return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
	exp = exp - 127 + 15;
	if (exp >= 0x1f)
		return (uint16_t)(sign | 0x7c00u);
	if (exp <= 0) {
		if (exp < -10)
			return (uint16_t)sign;
		mant |= 0x800000u;
		uint32_t shift = (uint32_t)(14 - exp);
		uint32_t h = mant >> shift;
		uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (h & 1)))
			h++;
		return (uint16_t)(sign | h);
	}
	uint32_t h = ((uint32_t)exp << 10) | (mant >> 13);
	uint32_t rem = mant & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

float serve_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, x;
	if (exp == 0) {
		if (mant == 0) {
			x = sign;
		} else {
			exp = 127 - 15 + 1;
			while (!(mant & 0x400u)) {
				mant <<= 1;
				exp--;
			}
			mant &= 0x3ffu;
			x = sign | (exp << 23) | (mant << 13);
		}
	} else if (exp == 0x1f) {
		x = sign | 0x7f800000u | (mant << 13);
	} else {
		x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
	}
	float f;
	memcpy(&f, &x, 4);
	return f;
}
