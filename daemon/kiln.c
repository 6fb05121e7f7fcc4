/*
 * kiln.c — the data dir's layout (see kiln.h).  Ids reaching these functions
 * were made by kilnd itself (hex), never taken from a client unchecked.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/kiln.h"
#include "daemon/util.h"

int kiln_batch_dir(const struct kiln *k, const char *batch_id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", k->images_dir, batch_id);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int kiln_image_path(const struct kiln *k, const char *batch_id, const char *image_id,
		    const char *ext, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s.%s", k->images_dir, batch_id, image_id, ext);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int kiln_image_tmp_path(const struct kiln *k, const char *batch_id, const char *image_id,
			const char *ext, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/.%s.%s.tmp", k->images_dir, batch_id, image_id, ext);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void kiln_remove_batch_files(const struct kiln *k, const char *batch_id)
{
	char dir[1200], path[1500];
	struct dirent *e;
	DIR *d;

	if (kiln_batch_dir(k, batch_id, dir, sizeof(dir)) < 0)
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int kiln_token_new(char *token, char *hash)
{
	memcpy(token, "kiln_", 5);
	if (util_random_hex(token + 5, 32) < 0)
		return -1;
	util_sha256_hex(token, strlen(token), hash);
	return 0;
}

int kiln_write_admin_token(const char *data_dir, const char *token)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "%s\n", token);

	return util_write_durable(data_dir, "admin.token", line, (size_t)n, 0600);
}

int kiln_thumb_path(const struct kiln *k, const char *batch_id, const char *image_id,
		    char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s.thumb.png", k->images_dir, batch_id, image_id);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void kiln_disk_full_message(const struct kiln *k, char *msg, size_t len)
{
	snprintf(msg, len, "disk full: no space left on the filesystem of the data dir (%s)",
		 k->cfg.data_dir);
}

int kiln_disk_short(const struct kiln *k, uint64_t need, char *msg, size_t len)
{
	uint64_t free_bytes;

	if (k->cfg.min_free_space == 0 || util_free_bytes(k->cfg.data_dir, &free_bytes) < 0)
		return 0;
	if (free_bytes >= need && free_bytes - need >= k->cfg.min_free_space)
		return 0;
	snprintf(msg, len, "disk full: %llu KiB free on the filesystem of the data dir (%s),"
		 " less than min_free_space (%llu KiB) would be left",
		 (unsigned long long)(free_bytes / 1024), k->cfg.data_dir,
		 (unsigned long long)(k->cfg.min_free_space / 1024));
	return 1;
}
