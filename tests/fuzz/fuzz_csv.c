/*
 * fuzz_csv.c — libFuzzer harness for the CSV and "Unicode text" reader
 * (sheet/csv.c), then sheet_validate() on what it read.
 *
 * Built and run by `make fuzz` (clang -fsanitize=fuzzer,address,undefined);
 * seeded from tests/fuzz/seeds/csv/ and tests/fuzz/regressions/csv/, and
 * every input that once broke the reader is kept in the latter, which
 * tests/unit/test_fuzz_regressions.c replays in `make check`.  What is
 * checked on each input is in fuzz.h.
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one(sheet_read_csv, data, size);
}
