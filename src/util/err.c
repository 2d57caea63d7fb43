/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "ccserve/util.h"

const char *cc_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case CC_E_BADCHAR:
		return "invalid character for the encoding";
	case CC_E_ODDLEN:
		return "odd number of hex digits";
	case CC_E_BADPAD:
		return "bad or non-canonical base64 padding";
	case CC_E_TRUNCATED:
		return "input truncated";
	case CC_E_TOOBIG:
		return "size over the limit";
	case CC_E_OVERFLOW:
		return "size arithmetic overflow";
	case CC_E_SYNTAX:
		return "syntax error";
	case CC_E_SHORTBUF:
		return "output buffer too small";
	default:
		break;
	}
	if (err < 0 && err > -CC_E_BASE) {
		/* strerrordesc_np is thread-safe and returns static text. */
		const char *s = strerrordesc_np(-err);
		return s ? s : "unknown system error";
	}
	return "unknown error";
}
