/* SPDX-License-Identifier: Apache-2.0 */
/* The public header compiles on its own (no other include before it). */
#include <ccserve/vol.h>

int vol_header_alone_check(void);
int vol_header_alone_check(void)
{
	struct vol_open_opts o = { 0 };
	return (int)sizeof(o) + VOL_E_NOT_LUKS;
}
