/* SPDX-License-Identifier: Apache-2.0 */
/* The public header compiles on its own (first include, nothing before). */
#include <ccserve/kbs.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
	/* Codes keep their numbers and names. */
	if (KBS_E_BADREQ != -5001 || KBS_E_REFUSED != -5028 ||
	    strcmp(kbs_strerror(KBS_E_NONCE_USED), "challenge nonce already used (replay)") != 0 ||
	    !kbs_name_valid("a/b/c") || kbs_name_valid("a/b")) {
		puts("kbs.h: unexpected values");
		return 1;
	}
	puts("kbs.h: self-contained, codes stable");
	return 0;
}
