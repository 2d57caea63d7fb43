/* SPDX-License-Identifier: Apache-2.0 */
#include "vol-internal.h"
#include <errno.h>
int vol_check(struct vol *v, struct vol_check_report *ret)
{
	(void)v;
	(void)ret;
	return -ENOSYS;
}
