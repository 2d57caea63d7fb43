/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC wire helpers: framing, grpc-timeout, grpc-message percent-encoding,
 * gzip message compression, status names; and net_strerror(). */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "internal.h"

const char *net_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case NET_E_TLS: return "TLS failure";
	case NET_E_PROTO: return "protocol violation by the peer";
	case NET_E_CLOSED: return "connection closed by the peer";
	case NET_E_TIMEOUT: return "timed out";
	case NET_E_TOOBIG: return "size above the configured limit";
	case NET_E_CANCELLED: return "cancelled";
	case NET_E_CONFIG: return "invalid configuration";
	case NET_E_VERIFY: return "peer certificate verification failed";
	case NET_E_ADDRESS: return "bad or unresolvable address";
	case NET_E_STATE: return "operation not allowed in this state";
	case NET_E_ENCODING: return "unsupported or corrupt message encoding";
	case NET_E_HTTP2: return "HTTP/2 session failure";
	case NET_E_STATUS: return "unexpected HTTP status";
	default: return cc_strerror(err);
	}
}

const char *net_grpc_status_name(int s)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	if (s < 0 || (size_t)s >= CC_ARRAY_SIZE(names))
		return "UNKNOWN_STATUS";
	return names[s];
}

int net_grpc_frame_decode(const uint8_t *buf, size_t len, size_t max,
			  bool *ret_compressed, const uint8_t **ret_msg,
			  size_t *ret_msg_len, size_t *ret_consumed)
{
	if (!buf && len)
		return NET_E_PROTO;
	if (len < 1)
		return 0;
	if (buf[0] > 1)
		return NET_E_PROTO;
	if (len < NET_GRPC_PREFIX_LEN)
		return 0;
	uint32_t n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
		     (uint32_t)buf[3] << 8 | buf[4];
	if ((size_t)n > max)
		return NET_E_TOOBIG;
	if (len - NET_GRPC_PREFIX_LEN < n)
		return 0;
	if (ret_compressed)
		*ret_compressed = buf[0] == 1;
	if (ret_msg)
		*ret_msg = buf + NET_GRPC_PREFIX_LEN;
	if (ret_msg_len)
		*ret_msg_len = n;
	if (ret_consumed)
		*ret_consumed = NET_GRPC_PREFIX_LEN + (size_t)n;
	return 1;
}

int net_grpc_prefix_encode(uint8_t out[NET_GRPC_PREFIX_LEN], bool compressed, size_t n)
{
	if (n > UINT32_MAX)
		return NET_E_TOOBIG;
	out[0] = compressed ? 1 : 0;
	out[1] = (uint8_t)(n >> 24);
	out[2] = (uint8_t)(n >> 16);
	out[3] = (uint8_t)(n >> 8);
	out[4] = (uint8_t)n;
	return 0;
}

int net_grpc_timeout_parse(const char *s, uint64_t *ret_ns)
{
	if (!s)
		return CC_E_SYNTAX;
	size_t len = strlen(s);
	if (len < 2 || len > 9)
		return CC_E_SYNTAX;
	uint64_t v = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CC_E_SYNTAX;
		v = v * 10 + (uint64_t)(s[i] - '0'); /* <= 99999999: no overflow */
	}
	uint64_t mul;
	switch (s[len - 1]) {
	case 'H': mul = 3600ull * 1000000000ull; break;
	case 'M': mul = 60ull * 1000000000ull; break;
	case 'S': mul = 1000000000ull; break;
	case 'm': mul = 1000000ull; break;
	case 'u': mul = 1000ull; break;
	case 'n': mul = 1ull; break;
	default: return CC_E_SYNTAX;
	}
	uint64_t out;
	if (__builtin_mul_overflow(v, mul, &out))
		out = UINT64_MAX;
	*ret_ns = out;
	return 0;
}

int net_grpc_timeout_format(uint64_t ns, char *buf, size_t bufsz)
{
	static const struct {
		char unit;
		uint64_t mul;
	} units[] = {{'n', 1ull}, {'u', 1000ull}, {'m', 1000000ull},
		     {'S', 1000000000ull}, {'M', 60000000000ull}, {'H', 3600000000000ull}};
	if (bufsz < 10)
		return CC_E_SHORTBUF;
	for (size_t i = 0; i < CC_ARRAY_SIZE(units); i++) {
		/* Round up so the server never sees a shorter deadline. */
		uint64_t v = ns / units[i].mul + (ns % units[i].mul ? 1 : 0);
		if (v <= 99999999u || i + 1 == CC_ARRAY_SIZE(units)) {
			if (v > 99999999u)
				v = 99999999u;
			snprintf(buf, bufsz, "%llu%c", (unsigned long long)v, units[i].unit);
			return 0;
		}
	}
	return CC_E_SHORTBUF; /* not reached */
}

#define PCT_MAX_IN (1u << 20)

int net_pct_encode(const char *in, size_t len, char **ret)
{
	if (len > PCT_MAX_IN)
		return CC_E_TOOBIG;
	if (!in && len)
		return NET_E_CONFIG;
	char *out = malloc(len * 3 + 1);
	if (!out)
		return -ENOMEM;
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c >= 0x20 && c <= 0x7e && c != '%') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = 0;
	*ret = out;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net_pct_decode(const char *in, size_t len, char **ret, size_t *ret_len)
{
	if (len > PCT_MAX_IN)
		return CC_E_TOOBIG;
	if (!in && len)
		return NET_E_CONFIG;
	char *out = malloc(len + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len) {
			int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
			if (h >= 0 && l >= 0) {
				out[o++] = (char)(h << 4 | l);
				i += 2;
				continue;
			}
		}
		out[o++] = in[i];
	}
	out[o] = 0;
	*ret = out;
	if (ret_len)
		*ret_len = o;
	return 0;
}

/* zlib's avail_in/avail_out are 32-bit: feed in bounded steps. */
#define Z_STEP ((size_t)1 << 30)

int net_gzip_compress(const void *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	if (!in && len)
		return NET_E_CONFIG;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	struct cc_buf out;
	cc_buf_init(&out, 0, false);
	size_t bound;
	int r = 0;
	/* deflateBound is exact enough for one allocation in the common case. */
	bound = deflateBound(&z, len > ULONG_MAX ? ULONG_MAX : (uLong)len);
	if ((r = cc_buf_reserve(&out, bound + 64)) < 0)
		goto out;
	const uint8_t *p = in;
	size_t left = len;
	int zr;
	do {
		size_t step = left > Z_STEP ? Z_STEP : left;
		z.next_in = (Bytef *)p;
		z.avail_in = (uInt)step;
		int flush = step == left ? Z_FINISH : Z_NO_FLUSH;
		do {
			if (out.cap - out.len < 4096 + 1 &&
			    (r = cc_buf_reserve(&out, out.cap)) < 0)
				goto out;
			size_t room = out.cap - out.len - 1;
			if (room > Z_STEP)
				room = Z_STEP;
			z.next_out = out.data + out.len;
			z.avail_out = (uInt)room;
			zr = deflate(&z, flush);
			if (zr == Z_STREAM_ERROR) {
				r = NET_E_ENCODING;
				goto out;
			}
			out.len += room - z.avail_out;
		} while (z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
		p += step;
		left -= step;
	} while (left > 0);
	out.data[out.len] = 0;
	*ret = cc_buf_steal(&out, ret_len);
out:
	deflateEnd(&z);
	cc_buf_free(&out);
	return r;
}

int net_gzip_decompress(const void *in, size_t len, size_t max, uint8_t **ret,
			size_t *ret_len)
{
	if (!in && len)
		return NET_E_CONFIG;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -ENOMEM;
	struct cc_buf out;
	cc_buf_init(&out, max ? max : 1, false);
	int r = 0;
	const uint8_t *p = in;
	size_t left = len;
	for (;;) {
		if (z.avail_in == 0 && left) {
			size_t step = left > Z_STEP ? Z_STEP : left;
			z.next_in = (Bytef *)p;
			z.avail_in = (uInt)step;
			p += step;
			left -= step;
		}
		uint8_t probe;
		size_t room;
		bool probing = out.len >= max;
		if (probing) {
			/* At the cap: one more byte of output means too big. */
			z.next_out = &probe;
			room = 1;
		} else {
			if (out.cap < out.len + 2) {
				size_t grow = out.len < 4096 ? 4096 : out.len;
				if (grow > max - out.len)
					grow = max - out.len;
				if ((r = cc_buf_reserve(&out, grow)) < 0)
					goto out;
			}
			room = out.cap - out.len - 1;
			if (room > max - out.len)
				room = max - out.len;
			if (room > Z_STEP)
				room = Z_STEP;
			z.next_out = out.data + out.len;
		}
		z.avail_out = (uInt)room;
		int zr = inflate(&z, Z_NO_FLUSH);
		size_t produced = room - z.avail_out;
		if (probing && produced) {
			r = NET_E_TOOBIG;
			goto out;
		}
		if (!probing)
			out.len += produced;
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && (z.avail_in || left))
			continue;
		r = zr == Z_MEM_ERROR ? -ENOMEM : NET_E_ENCODING; /* corrupt or truncated */
		goto out;
	}
	if (z.avail_in != 0 || left != 0) {
		r = NET_E_ENCODING; /* trailing bytes after the gzip member */
		goto out;
	}
	if (!out.data) {
		uint8_t *e = calloc(1, 1);
		if (!e) {
			r = -ENOMEM;
			goto out;
		}
		*ret = e;
		*ret_len = 0;
		goto out;
	}
	out.data[out.len] = 0;
	*ret = cc_buf_steal(&out, ret_len);
out:
	inflateEnd(&z);
	cc_buf_free(&out);
	return r;
}

bool grpc_content_type(const char *ct)
{
	if (!ct || strncasecmp(ct, "application/grpc", 16) != 0)
		return false;
	return ct[16] == 0 || ct[16] == '+' || ct[16] == ';';
}

bool grpc_accepts(const char *list, const char *token)
{
	if (!list)
		return false;
	size_t tl = strlen(token);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		const char *s = p;
		while (*p && *p != ',')
			p++;
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
			return true;
	}
	return false;
}
