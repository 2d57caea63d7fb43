/* SPDX-License-Identifier: Apache-2.0 */
#include "vol-internal.h"

#include <string.h>

const char *vol_strerror(int err)
{
	switch (err) {
	case VOL_E_NOT_LUKS:
		return "not a LUKS volume (no LUKS header found)";
	case VOL_E_BAD_KEY:
		return "wrong passphrase or key (no keyslot matched)";
	case VOL_E_HEADER_CORRUPT:
		return "LUKS header corrupted (both copies damaged)";
	case VOL_E_UNSUPPORTED:
		return "unsupported encryption (cipher, mode, key or sector size)";
	case VOL_E_TRUNCATED:
		return "image truncated (shorter than its header or filesystem)";
	case VOL_E_FS_CORRUPT:
		return "ext4 filesystem inside the volume is corrupted";
	case VOL_E_UNSAFE_PATH:
		return "unsafe name or link (would escape the target directory)";
	case VOL_E_NO_KEYSLOT:
		return "no such keyslot / no free keyslot";
	case VOL_E_LAST_KEYSLOT:
		return "refusing to remove the last keyslot";
	case VOL_E_TOO_LARGE:
		return "too large for the volume or the caller's limit";
	case VOL_E_NOT_EXT4:
		return "no ext2/3/4 filesystem inside the volume";
	case VOL_E_FS_FEATURE:
		return "ext4 feature not supported by this reader";
	default:
		break;
	}
	if (err <= -1000)
		return cc_strerror(err);
	if (err < 0)
		return strerror(-err);
	return "success";
}
