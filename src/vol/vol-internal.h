/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the vol library. */
#ifndef CCSERVE_VOL_INTERNAL_H
#define CCSERVE_VOL_INTERNAL_H

#include <ccserve/util.h>
#include <ccserve/vol.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#define VOL_LOG "vol"
#define VOL_CTX_POOL 8
#define VOL_WBUF (1024u * 1024u)

/* Encrypted data segment: where it is in the image and how it is keyed. */
struct vol_crypt {
	int fd;                  /* image, owned by whoever set it up */
	uint64_t data_offset;    /* bytes from the start of the image */
	uint64_t data_size;      /* bytes of the data segment */
	uint32_t sector_size;    /* encryption sector: 512..4096, power of 2 */
	uint64_t iv_offset;      /* 512-byte units added to each sector's IV */
	const EVP_CIPHER *cipher;
	uint8_t *key;            /* secure memory, key_len bytes */
	size_t key_len;
	pthread_mutex_t pool_lock;
	EVP_CIPHER_CTX *dec_pool[VOL_CTX_POOL];
	unsigned dec_n;
	EVP_CIPHER_CTX *enc;     /* writer's context, used under the caller's lock */
	uint8_t *wbuf;           /* writer's bounce buffer, VOL_WBUF bytes */
	const uint8_t *map;      /* read-only mapping of the image, or NULL */
	size_t map_len;
};

/* Takes ownership of key (secure memory).  fd is borrowed. */
int vol_crypt_init(struct vol_crypt *c, int fd, uint64_t data_offset,
		   uint64_t data_size, uint32_t sector_size, uint64_t iv_offset,
		   uint8_t *key, size_t key_len);
void vol_crypt_destroy(struct vol_crypt *c);
/* Map [0, data_offset + data_size) of the image read-only so reads decrypt
 * straight from the page cache (the caller checked the file is that long).
 * Optional: reads fall back to pread when it fails. */
int vol_crypt_map(struct vol_crypt *c);
/* Read len plaintext bytes at data-segment offset off (any alignment).
 * Thread-safe. */
int vol_crypt_read(struct vol_crypt *c, void *buf, size_t len, uint64_t off);
/* Encrypt and write (read-modify-write for partial sectors).  Not
 * thread-safe: callers serialise. */
int vol_crypt_write(struct vol_crypt *c, const void *buf, size_t len,
		    uint64_t off);

/* io_manager for libext2fs over a vol_crypt.  vol_io_register returns a
 * name to pass to ext2fs_open/ext2fs_initialize with vol_io_manager. */
extern struct struct_io_manager vol_io_manager_s;
int vol_io_register(struct vol_crypt *c, char *name, size_t namesz);
void vol_io_unregister(const char *name);

/* LUKS side (luks.c). */
struct vol_luks {
	uint64_t data_offset, data_size, iv_offset;
	uint32_t sector_size;
	uint8_t *key;            /* secure memory */
	size_t key_len;
	char uuid[40];
	char label[48];
	char cipher[32], cipher_mode[32];
	uint32_t active_keyslots;
};
enum vol_unlock_kind { VOL_UNLOCK_PASS, VOL_UNLOCK_VK };
int vol_luks_unlock(const char *image, int fd, enum vol_unlock_kind kind,
		    const void *secret, size_t secret_len, int keyslot,
		    struct vol_luks *ret);
int vol_luks_classify_load_error(int fd, int err);
void vol_luks_setup_logging(void);
int vol_luks_set_pbkdf(void *cd, const struct vol_kdf_params *kdf);

/* Map an ext2fs errcode_t to a vol error and log it with ctx. */
int vol_ext2_err(long code, const char *ctx);

/* Open a bare encrypted data segment (no LUKS header): for tests and the
 * fuzz target.  fd is duplicated; key is copied. */
int vol_open_segment(int fd, uint64_t data_offset, uint64_t data_size, uint32_t sector_size,
		     uint64_t iv_offset, const uint8_t *key, size_t key_len, struct vol **ret);

/* Secure key file read (whole file, capped). */
int vol_read_key_file(const char *path, uint8_t **ret, size_t *ret_len);

#endif
