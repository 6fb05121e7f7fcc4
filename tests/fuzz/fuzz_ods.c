/*
 * fuzz_ods.c — libFuzzer harness for the .ods reader (sheet/ods.c: zip,
 * manifest, content.xml), then sheet_validate() on what it read.
 *
 * Built and run by `make fuzz` (clang -fsanitize=fuzzer,address,undefined);
 * seeded from tests/fuzz/seeds/ods/ and tests/fuzz/regressions/ods/, and
 * every input that once broke the reader is kept in the latter, which
 * tests/unit/test_fuzz_regressions.c replays in `make check`.  What is
 * checked on each input is in fuzz.h; how inputs are mutated (one member
 * of the zip at a time) in zipmut.h.
 */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/zipmut.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one(sheet_read_ods, data, size);
}
