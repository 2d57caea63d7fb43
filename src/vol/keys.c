/* SPDX-License-Identifier: Apache-2.0 */
/* Keyslot management and header dumps (libcryptsetup, header only). */
#include "vol-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

static int load(const char *image, struct crypt_device **ret)
{
	if (!image)
		return -EINVAL;
	vol_luks_setup_logging();
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct crypt_device *cd = NULL;
	int r = crypt_init(&cd, image);
	if (r < 0) {
		close(fd);
		return r == -ENOMEM ? r : -EIO;
	}
	crypt_metadata_locking(cd, 0);
	r = crypt_load(cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		r = vol_luks_classify_load_error(fd, r);
		crypt_free(cd);
		close(fd);
		return r;
	}
	close(fd);
	*ret = cd;
	return 0;
}

static int active_slots(struct crypt_device *cd)
{
	int n = 0, max = crypt_keyslot_max(crypt_get_type(cd));
	for (int i = 0; i < max; i++) {
		crypt_keyslot_info ki = crypt_keyslot_status(cd, i);
		if (ki == CRYPT_SLOT_ACTIVE || ki == CRYPT_SLOT_ACTIVE_LAST)
			n++;
	}
	return n;
}

int vol_add_key(const char *image, const void *pass, size_t pass_len,
		const void *volume_key, size_t volume_key_len,
		const void *new_pass, size_t new_pass_len,
		const struct vol_kdf_params *kdf, int *ret_slot)
{
	struct crypt_device *cd = NULL;
	if (!new_pass && new_pass_len)
		return -EINVAL;
	int r = load(image, &cd);
	if (r < 0)
		return r;
	if (kdf || strcmp(crypt_get_type(cd), CRYPT_LUKS2) == 0) {
		r = vol_luks_set_pbkdf(cd, kdf);
		if (r < 0)
			goto out;
	}
	int max = crypt_keyslot_max(crypt_get_type(cd));
	if (active_slots(cd) >= max) {
		r = VOL_E_NO_KEYSLOT;
		goto out;
	}
	if (volume_key) {
		if ((int)volume_key_len != crypt_get_volume_key_size(cd)) {
			r = VOL_E_BAD_KEY;
			goto out;
		}
		r = crypt_volume_key_verify(cd, volume_key, volume_key_len);
		if (r < 0) {
			r = r == -EPERM ? VOL_E_BAD_KEY : r;
			goto out;
		}
		r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, volume_key,
						    volume_key_len, new_pass, new_pass_len);
	} else {
		r = crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT, pass, pass_len,
						    new_pass, new_pass_len);
		if (r == -EPERM || r == -ENOENT)
			r = VOL_E_BAD_KEY;
	}
	if (r >= 0 && ret_slot)
		*ret_slot = r;
	if (r > 0)
		r = 0;
out:
	crypt_free(cd);
	return r;
}

int vol_remove_key(const char *image, const void *pass, size_t pass_len, int *ret_slot)
{
	struct crypt_device *cd = NULL;
	int r = load(image, &cd);
	if (r < 0)
		return r;
	int slot = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, pass, pass_len, 0);
	if (slot < 0) {
		r = (slot == -EPERM || slot == -ENOENT) ? VOL_E_BAD_KEY : slot;
		goto out;
	}
	if (active_slots(cd) <= 1) {
		r = VOL_E_LAST_KEYSLOT;
		goto out;
	}
	r = crypt_keyslot_destroy(cd, slot);
	if (r >= 0) {
		r = 0;
		if (ret_slot)
			*ret_slot = slot;
	}
out:
	crypt_free(cd);
	return r;
}

struct dump_buf {
	struct cc_buf b;
	int err;
};

static void dump_cb(int level, const char *msg, void *usrptr)
{
	struct dump_buf *d = usrptr;
	if (level != CRYPT_LOG_NORMAL)
		return;
	if (!d->err)
		d->err = cc_buf_puts(&d->b, msg);
}

int vol_dump_header(const char *image, char **ret)
{
	if (!ret)
		return -EINVAL;
	struct crypt_device *cd = NULL;
	int r = load(image, &cd);
	if (r < 0)
		return r;
	struct dump_buf d;
	cc_buf_init(&d.b, 1u << 20, false);
	d.err = 0;
	crypt_set_log_callback(cd, dump_cb, &d);
	r = crypt_dump(cd);
	crypt_free(cd);
	if (r < 0 || d.err) {
		cc_buf_free(&d.b);
		return r < 0 ? r : d.err;
	}
	size_t len;
	uint8_t *p = cc_buf_steal(&d.b, &len);
	if (!p) {
		p = (uint8_t *)strdup("");
		if (!p)
			return -ENOMEM;
	}
	*ret = (char *)p;
	return 0;
}
