/* SPDX-License-Identifier: Apache-2.0 */
/* The public header compiles on its own (first include). */
#include "ccserve/net.h"

int main(void)
{
	struct net_header h = {"a", "b"};
	return h.name[0] == 'a' ? 0 : 1;
}
