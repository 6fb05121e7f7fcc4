/*
 * zipmut.h — a libFuzzer custom mutator for the zip-based formats (.xlsx,
 * .ods), shared by fuzz_xlsx.c and fuzz_ods.c: it mutates one member of
 * the archive rather than the archive's bytes.
 *
 * DESIGN
 * Byte mutations of a zip mostly hit deflate streams or break the offsets
 * in its headers, so they rarely reach the XML parsers behind them.  Three
 * times in four, LLVMFuzzerCustomMutator() opens the input with libzip,
 * picks one member (by the seed), lets LLVMFuzzerMutate() change its
 * inflated bytes (insertions and deletions included), and writes the
 * archive again in memory, every member stored (uncompressed, so later
 * plain mutations land in the XML too) and in the original order (an
 * .ods keeps "mimetype" first).  The fourth time, or when the input is no
 * zip libzip can rewrite, the whole input is mutated as bytes, so the
 * container code (central directory, local headers, encryption flags) is
 * still fuzzed.  What the harness does with the result is unchanged: the
 * reader gets the bytes, as an upload would.
 */
#ifndef KILN_ZIPMUT_H
#define KILN_ZIPMUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#define ZIPMUT_MEMBER_MAX ((zip_uint64_t)1 << 20)  /* a member larger than this is not mutated */
#define ZIPMUT_MEMBERS_MAX 256                     /* nor is an archive with more members */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* Inflates member i of za into a malloc'd buffer of room bytes (room >= its size); NULL on failure. */
static uint8_t *zipmut_read(zip_t *za, zip_uint64_t i, size_t room, size_t *len)
{
	zip_stat_t st;
	zip_file_t *zf;
	uint8_t *buf;
	zip_int64_t n;

	if (zip_stat_index(za, i, 0, &st) || !(st.valid & ZIP_STAT_SIZE) ||
	    st.size > ZIPMUT_MEMBER_MAX)
		return NULL;
	zf = zip_fopen_index(za, i, 0);
	if (!zf)
		return NULL;
	buf = malloc((size_t)st.size + room + 1);
	n = buf ? zip_fread(zf, buf, st.size) : -1;
	zip_fclose(zf);
	if (n < 0 || (zip_uint64_t)n != st.size) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/*
 * Rewrites the archive in data (size bytes) with member `pick` mutated;
 * returns the new size, or 0 when it cannot (then data is unchanged).
 */
static size_t zipmut_member(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	zip_error_t ze;
	zip_source_t *in, *outsrc;
	zip_t *za, *out = NULL;
	zip_int64_t n, i;
	zip_uint64_t pick;
	zip_stat_t st;
	size_t result = 0;

	zip_error_init(&ze);
	in = zip_source_buffer_create(data, size, 0, &ze);
	za = in ? zip_open_from_source(in, ZIP_RDONLY, &ze) : NULL;
	if (!za) {
		if (in)
			zip_source_free(in);
		zip_error_fini(&ze);
		return 0;
	}
	n = zip_get_num_entries(za, 0);
	outsrc = n > 0 && n <= ZIPMUT_MEMBERS_MAX ? zip_source_buffer_create(NULL, 0, 0, &ze) : NULL;
	if (outsrc) {
		out = zip_open_from_source(outsrc, ZIP_TRUNCATE, &ze);
		if (out)
			zip_source_keep(outsrc);   /* read back after zip_close() */
	}
	if (!out)
		goto done;
	pick = seed % (zip_uint64_t)n;
	for (i = 0; i < n; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		size_t len = 0, room = (zip_uint64_t)i == pick ? 4096 : 0;
		uint8_t *buf = name ? zipmut_read(za, (zip_uint64_t)i, room, &len) : NULL;
		zip_source_t *s;
		zip_int64_t idx;

		if (!buf)
			goto done;
		if ((zip_uint64_t)i == pick)
			len = LLVMFuzzerMutate(buf, len, len + room);
		if (!len) {                        /* libzip would not free an empty buffer */
			free(buf);
			buf = NULL;
		}
		s = zip_source_buffer(out, buf, len, buf != NULL);
		if (!s) {
			free(buf);
			goto done;
		}
		idx = zip_file_add(out, name, s, ZIP_FL_ENC_RAW);
		if (idx < 0) {
			zip_source_free(s);
			goto done;
		}
		zip_set_file_compression(out, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
	}
	if (zip_close(out))
		goto done;
	out = NULL;
	if (zip_source_stat(outsrc, &st) == 0 && (st.valid & ZIP_STAT_SIZE) && st.size <= max_size &&
	    zip_source_open(outsrc) == 0) {
		if (zip_source_read(outsrc, data, st.size) == (zip_int64_t)st.size)
			result = (size_t)st.size;
		zip_source_close(outsrc);
	}
done:
	if (out)
		zip_discard(out);
	if (outsrc)
		zip_source_free(outsrc);
	zip_discard(za);
	zip_error_fini(&ze);
	return result;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	size_t n;

	if (seed % 4 != 0) {
		n = zipmut_member(data, size, max_size, seed / 4);
		if (n)
			return n;
	}
	return LLVMFuzzerMutate(data, size, max_size);
}

#endif
