/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation-failure injection (tests/fuzz/failalloc.c). */
#ifndef CCSERVE_TESTS_FAILALLOC_H
#define CCSERVE_TESTS_FAILALLOC_H

#include <stdbool.h>
#include <stdint.h>

/* Reset the allocation counter; the nth allocation from now fails (n >= 1),
 * or none does (n == 0). */
void failalloc_arm(uint64_t n);
/* Allocations since the last failalloc_arm(). */
uint64_t failalloc_count(void);
/* Whether the armed failure has happened since the last failalloc_arm(). */
bool failalloc_fired(void);

#endif
