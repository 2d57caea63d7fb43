/* SPDX-License-Identifier: Apache-2.0 */
#include "ccvol.h"
#include <stdio.h>
int cmd_mount(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	die_msg(0, "mount: not built yet");
	return EX_FAIL;
}
