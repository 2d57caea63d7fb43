/* SPDX-License-Identifier: Apache-2.0 */
/* The public header compiles on its own. */
#include <ccserve/infer.h>

int main(void)
{
	return infer_dtype_size(INFER_DT_FLOAT) == 4 ? 0 : 1;
}
