/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_fail(): a fuzz target's property check failed.  It aborts (the fuzzer
 * or the sanitizers report it), except in an allocation-failure replay run
 * (failalloc.c) once an allocation has been made to fail: a failed
 * allocation legitimately breaks properties such as "what decodes re-encodes";
 * what those runs check is that nothing crashes or hangs.
 */
#ifndef CCSERVE_TESTS_FUZZ_FAIL_H
#define CCSERVE_TESTS_FUZZ_FAIL_H

#include <stdlib.h>

#ifdef FUZZ_FAILALLOC
#include "failalloc.h"
#define fuzz_fail()                     \
	do {                            \
		if (!failalloc_fired()) \
			abort();        \
	} while (0)
#else
#define fuzz_fail() abort()
#endif

#endif
