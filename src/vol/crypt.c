/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data path: AES-XTS per encryption sector, IV = iv_offset + (byte offset
 * within the data segment) / 512 as a little-endian 64-bit number
 * (dm-crypt's plain64, which counts 512-byte units even with 4 KiB sectors).
 * The key schedule is set once per EVP context; a small pool of decryption
 * contexts lets several reader threads work at once.
 */
#include "vol-internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/err.h>

static EVP_CIPHER_CTX *new_ctx(struct vol_crypt *c, int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex(ctx, c->cipher, NULL, c->key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	return ctx;
}

int vol_crypt_init(struct vol_crypt *c, int fd, uint64_t data_offset,
		   uint64_t data_size, uint32_t sector_size, uint64_t iv_offset,
		   uint8_t *key, size_t key_len)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->key = key;
	c->key_len = key_len;
	if (sector_size < 512 || sector_size > 4096 ||
	    (sector_size & (sector_size - 1)) || data_size % sector_size) {
		c->key = NULL;
		cc_secure_free(key);
		return VOL_E_UNSUPPORTED;
	}
	if (key_len == 64)
		c->cipher = EVP_aes_256_xts();
	else if (key_len == 32)
		c->cipher = EVP_aes_128_xts();
	else {
		c->key = NULL;
		cc_secure_free(key);
		return VOL_E_UNSUPPORTED;
	}
	c->data_offset = data_offset;
	c->data_size = data_size;
	c->sector_size = sector_size;
	c->iv_offset = iv_offset;
	pthread_mutex_init(&c->pool_lock, NULL);
	return 0;
}

int vol_crypt_map(struct vol_crypt *c)
{
	uint64_t end;
	if (__builtin_add_overflow(c->data_offset, c->data_size, &end) || end > SIZE_MAX)
		return -EFBIG;
	void *m = mmap(NULL, (size_t)end, PROT_READ, MAP_SHARED, c->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	madvise(m, (size_t)end, MADV_SEQUENTIAL);
	c->map = m;
	c->map_len = (size_t)end;
	return 0;
}

void vol_crypt_destroy(struct vol_crypt *c)
{
	if (c->map) {
		munmap((void *)c->map, c->map_len);
		c->map = NULL;
	}
	if (!c->key && !c->cipher)
		return;
	for (unsigned i = 0; i < c->dec_n; i++)
		EVP_CIPHER_CTX_free(c->dec_pool[i]);
	c->dec_n = 0;
	EVP_CIPHER_CTX_free(c->enc);
	c->enc = NULL;
	if (c->wbuf) {
		cc_wipe(c->wbuf, VOL_WBUF);
		free(c->wbuf);
		c->wbuf = NULL;
	}
	if (c->cipher)
		pthread_mutex_destroy(&c->pool_lock);
	cc_secure_free(c->key);
	c->key = NULL;
	c->cipher = NULL;
}

static EVP_CIPHER_CTX *get_dec(struct vol_crypt *c)
{
	EVP_CIPHER_CTX *ctx = NULL;
	pthread_mutex_lock(&c->pool_lock);
	if (c->dec_n)
		ctx = c->dec_pool[--c->dec_n];
	pthread_mutex_unlock(&c->pool_lock);
	return ctx ? ctx : new_ctx(c, 0);
}

static void put_dec(struct vol_crypt *c, EVP_CIPHER_CTX *ctx)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->dec_n < VOL_CTX_POOL) {
		c->dec_pool[c->dec_n++] = ctx;
		ctx = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	EVP_CIPHER_CTX_free(ctx);
}

/* En/decrypt n whole sectors into p, from src (or in place when src is
 * NULL); the first sector is at data offset off. */
static int xts_sectors(struct vol_crypt *c, EVP_CIPHER_CTX *ctx, uint8_t *p,
		       const uint8_t *src, size_t n, uint64_t off)
{
	uint8_t iv[16];
	for (size_t i = 0; i < n; i++) {
		uint64_t s = c->iv_offset + (off + (uint64_t)i * c->sector_size) / 512;
		memset(iv, 0, sizeof(iv));
		for (int b = 0; b < 8; b++)
			iv[b] = (uint8_t)(s >> (8 * b));
		int outl = 0;
		uint8_t *sec = p + i * c->sector_size;
		/* EVP_CipherInit_ex2 with only an IV keeps the key schedule
		 * (three times faster than EVP_CipherInit_ex here). */
		if (EVP_CipherInit_ex2(ctx, NULL, NULL, iv, -1, NULL) != 1 ||
		    EVP_CipherUpdate(ctx, sec, &outl, src ? src + i * c->sector_size : sec,
				     (int)c->sector_size) != 1 ||
		    outl != (int)c->sector_size) {
			ERR_clear_error();
			return -EIO;
		}
	}
	return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return VOL_E_TRUNCATED;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t r = pwrite(fd, p, len, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int range_ok(const struct vol_crypt *c, size_t len, uint64_t off)
{
	if (off > c->data_size || len > c->data_size - off)
		return -EIO;
	return 0;
}

int vol_crypt_read(struct vol_crypt *c, void *buf, size_t len, uint64_t off)
{
	int r = range_ok(c, len, off);
	if (r < 0 || len == 0)
		return r;
	EVP_CIPHER_CTX *ctx = get_dec(c);
	if (!ctx)
		return -ENOMEM;
	const uint32_t ss = c->sector_size;
	uint8_t tmp[4096];
	bool used_tmp = false;
	uint8_t *out = buf;
	while (len) {
		uint64_t sec_off = off - off % ss;
		size_t skip = (size_t)(off - sec_off);
		if (skip || len < ss) {
			/* Partial sector through the bounce buffer. */
			size_t take = ss - skip < len ? ss - skip : len;
			used_tmp = true;
			if (c->map) {
				r = xts_sectors(c, ctx, tmp, c->map + c->data_offset + sec_off, 1, sec_off);
			} else {
				r = pread_full(c->fd, tmp, ss, c->data_offset + sec_off);
				if (!r)
					r = xts_sectors(c, ctx, tmp, NULL, 1, sec_off);
			}
			if (r)
				break;
			memcpy(out, tmp + skip, take);
			out += take;
			off += take;
			len -= take;
			continue;
		}
		/* Whole sectors straight into the caller's buffer, in chunks. */
		size_t n = len / ss;
		if (n > 256)
			n = 256;
		if (c->map) {
			/* Straight from the page cache into the caller's
			 * buffer: one pass over the data. */
			r = xts_sectors(c, ctx, out, c->map + c->data_offset + off, n, off);
		} else {
			r = pread_full(c->fd, out, n * ss, c->data_offset + off);
			if (!r)
				r = xts_sectors(c, ctx, out, NULL, n, off);
		}
		if (r)
			break;
		out += n * ss;
		off += (uint64_t)n * ss;
		len -= n * ss;
	}
	if (used_tmp)
		explicit_bzero(tmp, sizeof(tmp)); /* plaintext; cheap, unlike a byte-wise cleanse */
	put_dec(c, ctx);
	return r;
}

int vol_crypt_write(struct vol_crypt *c, const void *buf, size_t len,
		    uint64_t off)
{
	int r = range_ok(c, len, off);
	if (r < 0 || len == 0)
		return r;
	if (!c->enc) {
		c->enc = new_ctx(c, 1);
		if (!c->enc)
			return -ENOMEM;
	}
	const uint32_t ss = c->sector_size;
	/* Encrypt through a bounce buffer: the caller's data stays plaintext. */
	if (!c->wbuf) {
		c->wbuf = malloc(VOL_WBUF);
		if (!c->wbuf)
			return -ENOMEM;
	}
	uint8_t *big = c->wbuf;
	const uint8_t *in = buf;
	while (len) {
		uint64_t sec_off = off - off % ss;
		size_t skip = (size_t)(off - sec_off);
		if (skip || len < ss) {
			size_t take = ss - skip < len ? ss - skip : len;
			r = vol_crypt_read(c, big, ss, sec_off);
			if (r == VOL_E_TRUNCATED) {
				/* Beyond the end of a sparse image: start from zeros. */
				memset(big, 0, ss);
				r = 0;
			}
			if (r)
				break;
			memcpy(big + skip, in, take);
			r = xts_sectors(c, c->enc, big, NULL, 1, sec_off);
			if (!r)
				r = pwrite_full(c->fd, big, ss, c->data_offset + sec_off);
			if (r)
				break;
			in += take;
			off += take;
			len -= take;
			continue;
		}
		size_t n = len / ss;
		if (n > VOL_WBUF / ss)
			n = VOL_WBUF / ss;
		memcpy(big, in, n * ss);
		r = xts_sectors(c, c->enc, big, NULL, n, off);
		if (!r)
			r = pwrite_full(c->fd, big, n * ss, c->data_offset + off);
		if (r)
			break;
		in += n * ss;
		off += (uint64_t)n * ss;
		len -= n * ss;
	}
	return r;
}
