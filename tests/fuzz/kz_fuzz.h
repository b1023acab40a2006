/* The libFuzzer entry point every tests/fuzz/fuzz_*.c defines (mk/fuzz.mk). */
#ifndef KZ_FUZZ_H
#define KZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Called once per input; data is owned by libFuzzer and valid only for the call.
 * Returns 0; a finding is a crash or a sanitizer report, or abort() on a broken
 * invariant. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
