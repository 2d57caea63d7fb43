/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve util: the error model, logging, secure memory, constant-time
 * compare, strict hex/base64, a bounded reader for untrusted bytes, a capped
 * growable buffer, file helpers and clocks.  Every other library builds on it.
 *
 * Error model: functions return int, 0 on success, a negative errno value for
 * system-facing failures (-ENOMEM, -EIO, -ENOENT, ...) or a negative CC_E_*
 * code below for format failures.  cc_strerror() names both.  Codes are never
 * renumbered.
 */
#ifndef CCSERVE_UTIL_H
#define CCSERVE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

enum cc_error {
	CC_E_BASE = 1000,        /* below this, values are errno numbers */
	CC_E_BADCHAR = -1001,    /* a character outside the encoding's alphabet */
	CC_E_ODDLEN = -1002,     /* hex input of odd length */
	CC_E_BADPAD = -1003,     /* base64 padding missing, misplaced or non-canonical */
	CC_E_TRUNCATED = -1004,  /* input ended before a field it announced */
	CC_E_TOOBIG = -1005,     /* a size above the caller's or a hard cap */
	CC_E_OVERFLOW = -1006,   /* an arithmetic overflow in a size computation */
	CC_E_SYNTAX = -1007,     /* text that does not follow its grammar */
	CC_E_SHORTBUF = -1008,   /* the caller's output buffer is too small */
};

/* A static, human-readable description of err (a negative errno or CC_E_*).
 * Never NULL. */
const char *cc_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Cleanup helpers (systemd style)                                          */

#define _cc_cleanup_(f) __attribute__((cleanup(f)))
#define CC_TAKE_PTR(p)                                                         \
	({                                                                     \
		__typeof__(p) _cc_tmp_ = (p);                                  \
		(p) = NULL;                                                    \
		_cc_tmp_;                                                      \
	})
#define CC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void cc_freep(void *p)
{
	free(*(void **)p);
}
#define _cc_cleanup_free_ _cc_cleanup_(cc_freep)

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool cc_mul_ok(size_t a, size_t b, size_t *ret)
{
	return !__builtin_mul_overflow(a, b, ret);
}
static inline bool cc_add_ok(size_t a, size_t b, size_t *ret)
{
	return !__builtin_add_overflow(a, b, ret);
}

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */

enum cc_log_level {
	CC_LOG_ERROR = 0,
	CC_LOG_WARN = 1,
	CC_LOG_INFO = 2,
	CC_LOG_DEBUG = 3,
};

/* A log sink.  msg is one line without a trailing newline, valid only for the
 * duration of the call.  component names the library ("vol", "attest"...). */
typedef void (*cc_log_fn)(void *userdata, enum cc_log_level level,
			  const char *component, const char *msg);

/* Install a process-wide sink (NULL restores the default, which writes
 * "TIME LEVEL component: msg" lines to stderr).  Thread-safe. */
void cc_log_set_sink(cc_log_fn fn, void *userdata);
/* Messages above level are dropped before formatting.  Default CC_LOG_INFO. */
void cc_log_set_level(enum cc_log_level level);
enum cc_log_level cc_log_get_level(void);
/* Default sink output format: false = text lines, true = JSON lines. */
void cc_log_set_json(bool json);
/* Parse "error|warn|info|debug" (case-insensitive). */
int cc_log_level_parse(const char *s, enum cc_log_level *ret_level);

/* Libraries log through these.  Never pass a secret: the sink may write it
 * anywhere.  Long messages are truncated at 4 KiB. */
void cc_log(enum cc_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cc_logv(enum cc_log_level level, const char *component, const char *fmt,
	     va_list ap) __attribute__((format(printf, 3, 0)));

/* ------------------------------------------------------------------------ */
/* Secure memory                                                            */

/*
 * Secrets (keys, passphrases, plaintext key material) live here: each
 * allocation is its own anonymous mapping, zero-filled, mlock()ed,
 * MADV_DONTDUMP and MADV_DONTFORK, and wiped (with a wipe the compiler cannot
 * drop) before it is unmapped.  If mlock fails (RLIMIT_MEMLOCK) the memory is
 * still excluded from dumps and a warning is logged once.
 *
 * Guard mode (for tests and debugging): each allocation is placed against a
 * PROT_NONE page so an overrun faults at once, and a PROT_NONE page precedes
 * it.
 */

/* Returns zeroed memory or NULL (errno set).  size 0 returns a valid unique
 * pointer.  Free with cc_secure_free(). */
void *cc_secure_alloc(size_t size);
/* Wipes and releases p; NULL is accepted. */
void cc_secure_free(void *p);
/* Size requested when p was allocated (0 for NULL). */
size_t cc_secure_size(const void *p);
/* Copy of the first len bytes of src into secure memory, NUL-terminated
 * (the terminator is not counted in cc_secure_size). */
char *cc_secure_strndup(const char *src, size_t len);
/* Grow or shrink: copies, wipes and frees the old block. */
void *cc_secure_realloc(void *p, size_t size);
/* Enable or disable guard mode for allocations made after the call. */
void cc_secure_set_guard_mode(bool on);
/* Test hook: called from cc_secure_free after the wipe and before unmapping,
 * with the user region.  NULL removes it.  For tests only. */
typedef void (*cc_secure_free_hook_fn)(const void *p, size_t size);
void cc_secure_set_free_hook(cc_secure_free_hook_fn fn);

static inline void cc_secure_freep(void *p)
{
	cc_secure_free(*(void **)p);
}
#define _cc_cleanup_secure_ _cc_cleanup_(cc_secure_freep)

/* Wipe memory in a way the compiler cannot elide. */
void cc_wipe(void *p, size_t len);

/* Constant-time equality: true when the len bytes are equal. */
bool cc_ct_equal(const void *a, const void *b, size_t len);

/* Exclude the whole process from core dumps (prctl PR_SET_DUMPABLE 0 and
 * RLIMIT_CORE 0).  Services holding secrets call this at start. */
int cc_disable_core_dumps(void);

/* ------------------------------------------------------------------------ */
/* Hex and base64 (strict)                                                  */

/* Lower-case hex.  out must hold 2*len+1 bytes; always NUL-terminated.
 * Returns CC_E_SHORTBUF if outsz is too small. */
int cc_hex_encode(const void *in, size_t len, char *out, size_t outsz);
/* Decodes exactly inlen characters (upper or lower case, nothing else).
 * Errors: CC_E_ODDLEN, CC_E_BADCHAR, CC_E_SHORTBUF.  On error out is wiped. */
int cc_hex_decode(const char *in, size_t inlen, void *out, size_t outsz,
		  size_t *ret_len);

enum cc_b64_variant {
	CC_B64_STD,        /* RFC 4648 §4 alphabet, padding required */
	CC_B64_URL,        /* §5 alphabet, padding optional (checked if present) */
	CC_B64_URL_NOPAD,  /* §5 alphabet, '=' rejected (JOSE) */
};
/* Encoded length including the NUL. */
size_t cc_base64_encoded_size(size_t len, enum cc_b64_variant v);
int cc_base64_encode(const void *in, size_t len, enum cc_b64_variant v,
		     char *out, size_t outsz);
/* Upper bound of decoded bytes for inlen characters. */
size_t cc_base64_decoded_max(size_t inlen);
/* Strict decode: no whitespace, no characters from the other alphabet,
 * padding per variant, non-zero trailing bits rejected (CC_E_BADPAD).
 * Errors: CC_E_BADCHAR, CC_E_BADPAD, CC_E_SHORTBUF.  On error out is wiped. */
int cc_base64_decode(const char *in, size_t inlen, enum cc_b64_variant v,
		     void *out, size_t outsz, size_t *ret_len);
/* Allocating variants (malloc; caller frees).  *ret is NUL-terminated for
 * convenience (not counted in *ret_len). */
int cc_base64_decode_alloc(const char *in, size_t inlen, enum cc_b64_variant v,
			   uint8_t **ret, size_t *ret_len);
int cc_base64_encode_alloc(const void *in, size_t len, enum cc_b64_variant v,
			   char **ret);
int cc_hex_encode_alloc(const void *in, size_t len, char **ret);

/* ------------------------------------------------------------------------ */
/* Bounded reader for untrusted bytes                                       */

/*
 * A cursor over caller-owned bytes.  Every read checks the remaining length;
 * the first failure is sticky (err = CC_E_TRUNCATED) and all later reads fail
 * too, so a parser may read a whole fixed header and check once.
 */
struct cc_reader {
	const uint8_t *data;
	size_t len;
	size_t off;
	int err;
};

void cc_reader_init(struct cc_reader *r, const void *data, size_t len);
size_t cc_reader_remaining(const struct cc_reader *r);
int cc_read_u8(struct cc_reader *r, uint8_t *ret);
int cc_read_u16le(struct cc_reader *r, uint16_t *ret);
int cc_read_u32le(struct cc_reader *r, uint32_t *ret);
int cc_read_u64le(struct cc_reader *r, uint64_t *ret);
int cc_read_u16be(struct cc_reader *r, uint16_t *ret);
int cc_read_u32be(struct cc_reader *r, uint32_t *ret);
int cc_read_u64be(struct cc_reader *r, uint64_t *ret);
/* Zero-copy: *ret points into the reader's data. */
int cc_read_bytes(struct cc_reader *r, size_t n, const uint8_t **ret);
int cc_read_copy(struct cc_reader *r, void *dst, size_t n);
int cc_reader_skip(struct cc_reader *r, size_t n);
/* A sub-reader over the next n bytes; the parent advances past them. */
int cc_reader_sub(struct cc_reader *r, size_t n, struct cc_reader *ret_sub);

/* ------------------------------------------------------------------------ */
/* Capped growable buffer                                                   */

struct cc_buf {
	uint8_t *data;  /* always NUL-terminated after data[len] when non-NULL */
	size_t len;
	size_t cap;
	size_t max;     /* hard cap on len; appends beyond it fail CC_E_TOOBIG */
	bool secure;    /* storage in secure memory, wiped when it moves */
};

/* max 0 means SIZE_MAX/2.  No allocation until the first append. */
void cc_buf_init(struct cc_buf *b, size_t max, bool secure);
int cc_buf_reserve(struct cc_buf *b, size_t extra);
int cc_buf_append(struct cc_buf *b, const void *p, size_t n);
int cc_buf_putc(struct cc_buf *b, char c);
int cc_buf_puts(struct cc_buf *b, const char *s);
int cc_buf_printf(struct cc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Empty without freeing (wipes when secure). */
void cc_buf_reset(struct cc_buf *b);
/* Free storage (wiping when secure); b can be reused after cc_buf_init. */
void cc_buf_free(struct cc_buf *b);
/* Hand the storage to the caller (free() or cc_secure_free() per b->secure);
 * b is left empty.  Returns NULL when nothing was ever appended. */
uint8_t *cc_buf_steal(struct cc_buf *b, size_t *ret_len);

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

/* Read a whole regular file of at most max bytes.  *ret is NUL-terminated
 * (not counted).  Errors: -errno from open/read, CC_E_TOOBIG when larger
 * than max, -EISDIR / -EINVAL for non-regular files.  secure=true reads into
 * secure memory (free with cc_secure_free). */
int cc_file_read(const char *path, size_t max, bool secure, uint8_t **ret,
		 size_t *ret_len);
/* Write atomically: temp file in the same directory (mode), write, fsync,
 * rename over path, fsync the directory.  On failure the temp file is removed
 * and path is untouched. */
int cc_file_write_atomic(const char *path, const void *data, size_t len,
			 unsigned mode);
/* Write a new file, failing with -EEXIST if it exists (O_EXCL). */
int cc_file_write_new(const char *path, const void *data, size_t len,
		      unsigned mode);

/* ------------------------------------------------------------------------ */
/* Numbers and clocks                                                       */

/* Strict decimal parse: digits only (optional leading '-' for the signed
 * form), no whitespace, range-checked.  CC_E_SYNTAX or -ERANGE. */
int cc_parse_u64(const char *s, uint64_t *ret);
int cc_parse_i64(const char *s, int64_t *ret);

/* Monotonic time in nanoseconds. */
uint64_t cc_mono_ns(void);
/* Wall-clock time: seconds since the epoch (UTC). */
int64_t cc_wall_s(void);
/* Wall-clock time in milliseconds since the epoch. */
int64_t cc_wall_ms(void);
/* Parse RFC 3339 / ISO 8601 UTC ("2025-07-01T00:00:00Z", fractional seconds
 * and "+00:00" accepted, other offsets applied).  CC_E_SYNTAX on bad input. */
int cc_time_parse(const char *s, int64_t *ret_epoch_s);
/* Format as "YYYY-MM-DDTHH:MM:SSZ"; buf must hold 21+ bytes. */
int cc_time_format(int64_t epoch_s, char *buf, size_t bufsz);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_UTIL_H */
