/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LUKS header, keyslots and KDF through libcryptsetup.  Only header
 * operations are used (load, volume key get/verify, format, keyslot add and
 * destroy), which work on image files without device-mapper or loop devices.
 */
#include "vol-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

static void crypt_log_cb(int level, const char *msg, void *usrptr)
{
	(void)usrptr;
	/* libcryptsetup messages end in a newline and never carry keys. */
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	(void)level; /* the caller reports the failure; details only at debug */
	cc_log(CC_LOG_DEBUG, VOL_LOG, "cryptsetup: %.*s", (int)n, msg);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void log_init(void)
{
	crypt_set_log_callback(NULL, crypt_log_cb, NULL);
}
void vol_luks_setup_logging(void)
{
	pthread_once(&log_once, log_init);
}

static const uint64_t secondary_offsets[] = {
	0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000,
	0x400000,
};

/* Why crypt_load failed: no LUKS magic anywhere, a file cut short, or
 * damaged header copies. */
int vol_luks_classify_load_error(int fd, int err)
{
	uint8_t h[16];
	struct stat st;
	if (err == -ENOMEM)
		return err;
	if (fstat(fd, &st) < 0)
		return -errno;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	bool primary = n == (ssize_t)sizeof(h) && memcmp(h, "LUKS\xba\xbe", 6) == 0;
	bool secondary = false;
	for (size_t i = 0; i < CC_ARRAY_SIZE(secondary_offsets); i++) {
		if (pread(fd, h, sizeof(h), (off_t)secondary_offsets[i]) == (ssize_t)sizeof(h) &&
		    memcmp(h, "SKUL\xba\xbe", 6) == 0) {
			secondary = true;
			break;
		}
	}
	if (primary) {
		uint8_t b[16];
		if (pread(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b)) {
			uint16_t ver = (uint16_t)(b[6] << 8 | b[7]);
			if (ver == 2) {
				uint64_t hs = 0;
				for (int i = 0; i < 8; i++)
					hs = hs << 8 | b[8 + i];
				if (hs >= 0x4000 && hs <= 0x400000 &&
				    (uint64_t)st.st_size < 2 * hs)
					return VOL_E_TRUNCATED;
			} else if (ver == 1) {
				if (st.st_size < 4096)
					return VOL_E_TRUNCATED;
			}
		}
	}
	if (!primary && !secondary)
		return VOL_E_NOT_LUKS;
	return VOL_E_HEADER_CORRUPT;
}

int vol_luks_unlock(const char *image, int fd, enum vol_unlock_kind kind,
		    const void *secret, size_t secret_len, int keyslot,
		    struct vol_luks *ret)
{
	struct crypt_device *cd = NULL;
	uint8_t *vk = NULL;
	int r;

	vol_luks_setup_logging();
	memset(ret, 0, sizeof(*ret));
	r = crypt_init(&cd, image);
	if (r < 0) {
		cc_log(CC_LOG_DEBUG, VOL_LOG, "crypt_init: %s", strerror(-r));
		return r == -ENOMEM ? r : -EIO;
	}
	crypt_metadata_locking(cd, 0);
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		r = vol_luks_classify_load_error(fd, r);
		goto out;
	}
	const char *cipher = crypt_get_cipher(cd);
	const char *mode = crypt_get_cipher_mode(cd);
	int ks = crypt_get_volume_key_size(cd);
	int ss = crypt_get_sector_size(cd);
	if (!cipher || !mode || strcmp(cipher, "aes") != 0 ||
	    strcmp(mode, "xts-plain64") != 0 || (ks != 64 && ks != 32) ||
	    ss < 512 || ss > 4096 || (ss & (ss - 1)) || crypt_header_is_detached(cd) > 0) {
		cc_log(CC_LOG_ERROR, VOL_LOG,
		       "unsupported encryption %s-%s, %d-bit key, %d-byte sectors "
		       "(supported: aes-xts-plain64, 256/512-bit key, 512..4096-byte sectors)",
		       cipher ? cipher : "?", mode ? mode : "?", ks * 8, ss);
		r = VOL_E_UNSUPPORTED;
		goto out;
	}
	uint32_t req = 0;
	if (strcmp(crypt_get_type(cd), CRYPT_LUKS2) == 0 &&
	    crypt_persistent_flags_get(cd, CRYPT_FLAGS_REQUIREMENTS, &req) == 0 && req) {
		/* e.g. an interrupted reencryption: the data is half old, half new. */
		cc_log(CC_LOG_ERROR, VOL_LOG,
		       "volume has unmet LUKS2 requirements (0x%x, e.g. an unfinished reencryption)", req);
		r = VOL_E_UNSUPPORTED;
		goto out;
	}
	snprintf(ret->cipher, sizeof(ret->cipher), "%s", cipher);
	snprintf(ret->cipher_mode, sizeof(ret->cipher_mode), "%s", mode);
	const char *uuid = crypt_get_uuid(cd);
	snprintf(ret->uuid, sizeof(ret->uuid), "%s", uuid ? uuid : "");
	const char *label = strcmp(crypt_get_type(cd), CRYPT_LUKS2) == 0 ? crypt_get_label(cd) : NULL;
	snprintf(ret->label, sizeof(ret->label), "%s", label ? label : "");
	int max = crypt_keyslot_max(crypt_get_type(cd));
	for (int i = 0; i < max; i++) {
		crypt_keyslot_info ki = crypt_keyslot_status(cd, i);
		if (ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST)
			ret->active_keyslots++;
	}

	ret->data_offset = crypt_get_data_offset(cd) * 512;
	ret->iv_offset = crypt_get_iv_offset(cd);
	ret->sector_size = (uint32_t)ss;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((uint64_t)st.st_size < ret->data_offset + (uint64_t)ss) {
		cc_log(CC_LOG_ERROR, VOL_LOG,
		       "image is %lld bytes, shorter than its data offset %llu",
		       (long long)st.st_size, (unsigned long long)ret->data_offset);
		r = VOL_E_TRUNCATED;
		goto out;
	}
	ret->data_size = ((uint64_t)st.st_size - ret->data_offset) / (uint64_t)ss * (uint64_t)ss;

	vk = cc_secure_alloc((size_t)ks);
	if (!vk) {
		r = -ENOMEM;
		goto out;
	}
	if (kind == VOL_UNLOCK_PASS) {
		size_t vk_size = (size_t)ks;
		r = crypt_volume_key_get(cd, keyslot < 0 ? CRYPT_ANY_SLOT : keyslot,
					 (char *)vk, &vk_size, secret, secret_len);
		if (r < 0) {
			r = (r == -EPERM || r == -ENOENT || r == -EINVAL) ? VOL_E_BAD_KEY : r;
			goto out;
		}
		if (vk_size != (size_t)ks) {
			r = VOL_E_UNSUPPORTED;
			goto out;
		}
	} else {
		if (secret_len != (size_t)ks) {
			cc_log(CC_LOG_ERROR, VOL_LOG,
			       "volume key is %zu bytes, the volume needs %d",
			       secret_len, ks);
			r = VOL_E_BAD_KEY;
			goto out;
		}
		memcpy(vk, secret, secret_len);
		r = crypt_volume_key_verify(cd, (const char *)vk, (size_t)ks);
		if (r < 0) {
			r = r == -EPERM ? VOL_E_BAD_KEY : r;
			goto out;
		}
	}
	ret->key = CC_TAKE_PTR(vk);
	ret->key_len = (size_t)ks;
	r = 0;
out:
	cc_secure_free(vk);
	crypt_free(cd);
	return r;
}

int vol_luks_set_pbkdf(void *cdv, const struct vol_kdf_params *kdf)
{
	struct crypt_device *cd = cdv;
	const struct crypt_pbkdf_type *def = crypt_get_pbkdf_default(CRYPT_LUKS2);
	struct crypt_pbkdf_type p = *def;
	switch (kdf ? kdf->type : VOL_KDF_ARGON2ID) {
	case VOL_KDF_ARGON2ID:
		p.type = CRYPT_KDF_ARGON2ID;
		break;
	case VOL_KDF_ARGON2I:
		p.type = CRYPT_KDF_ARGON2I;
		break;
	case VOL_KDF_PBKDF2:
		p.type = CRYPT_KDF_PBKDF2;
		p.max_memory_kb = 0;
		p.parallel_threads = 0;
		break;
	default:
		return -EINVAL;
	}
	if (kdf) {
		if (kdf->hash)
			p.hash = kdf->hash;
		if (kdf->iter_time_ms)
			p.time_ms = kdf->iter_time_ms;
		if (kdf->type != VOL_KDF_PBKDF2) {
			if (kdf->memory_kib)
				p.max_memory_kb = kdf->memory_kib;
			if (kdf->parallel)
				p.parallel_threads = kdf->parallel;
		}
		if (kdf->iterations) {
			p.iterations = kdf->iterations;
			p.flags |= CRYPT_PBKDF_NO_BENCHMARK;
			if (!p.time_ms)
				p.time_ms = 1;
		}
	}
	int r = crypt_set_pbkdf_type(cd, &p);
	return r < 0 ? -EINVAL : 0;
}
