/*
 * fuzz_xls.c — libFuzzer harness for the .xls reader (sheet/xls.c: OLE2
 * compound files, BIFF5 and BIFF8), then sheet_validate() on what it read.
 *
 * Built and run by `make fuzz` (clang -fsanitize=fuzzer,address,undefined);
 * seeded from tests/fuzz/seeds/xls/ and tests/fuzz/regressions/xls/, and
 * every input that once broke the reader is kept in the latter, which
 * tests/unit/test_fuzz_regressions.c replays in `make check`.  What is
 * checked on each input is in fuzz.h.
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one(sheet_read_xls, data, size);
}
