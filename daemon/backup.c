/*
 * backup.c — `kilnd backup` and `kilnd restore`; the design is in backup.h.
 *
 * Both take the data dir the daemon would use: --data-dir DIR, else
 * data_dir from --config FILE, else the default.  Messages go to stderr,
 * one line each; the exit status is 0 on success, 1 when the backup or
 * restore failed, 2 for a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "daemon/backup.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "store/store.h"

#define BACKUP_TRIES 3
#define ID_LEN 24
#define HEX "0123456789abcdef"

/* One image file a backup carries. */
struct bfile {
	char *name;              /* images/<batch>/<image>.<ext> */
	int64_t bytes;
};

struct bfiles {
	struct bfile *v;
	size_t n, cap;
	const char *data_dir;
	char missing[1500];      /* the first file not found with its size, or "" */
};

static void bfiles_free(struct bfiles *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		free(fl->v[i].name);
	free(fl->v);
	fl->v = NULL;
	fl->n = fl->cap = 0;
}

/* store_done_images() callback: checks the file is there and adds it. */
static int bfiles_add(void *cls, const struct store_image_file *f)
{
	struct bfiles *fl = cls;
	char name[256], path[1400];
	struct stat sb;
	int n;

	n = snprintf(name, sizeof(name), "images/%s/%s.%s", f->batch_id, f->image_id, f->ext);
	if (n < 0 || (size_t)n >= sizeof(name))
		return 1;
	snprintf(path, sizeof(path), "%s/%s", fl->data_dir, name);
	if (stat(path, &sb) < 0 || sb.st_size != f->bytes) {
		snprintf(fl->missing, sizeof(fl->missing), "%s", path);
		return 1;
	}
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 256;
		struct bfile *v = realloc(fl->v, cap * sizeof(*v));

		if (!v)
			return 1;
		fl->v = v;
		fl->cap = cap;
	}
	fl->v[fl->n].name = strdup(name);
	if (!fl->v[fl->n].name)
		return 1;
	fl->v[fl->n].bytes = f->bytes;
	fl->n++;
	return 0;
}

/*
 * Parses [--config FILE] [--data-dir DIR] FILE into *cfg and *file.
 * Returns 0, or the exit status to return (usage printed).
 */
static int parse(int argc, char **argv, const char *what, struct config *cfg, const char **file)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *data_dir = NULL;
	char err[1024];
	int c;

	config_defaults(cfg);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (config_load(cfg, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "kilnd %s: %s\n", what, err);
				return 2;
			}
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'h':
			printf("usage: kilnd %s [--config FILE | --data-dir DIR] BACKUP.zip\n\n%s\n", what,
			       strcmp(what, "backup") == 0 ?
			       "Writes a consistent copy of the data dir's store and images to BACKUP.zip,\n"
			       "also while kilnd runs.  Run it as the user kilnd runs as." :
			       "Brings BACKUP.zip back into the data dir, which must be empty or missing;\n"
			       "then start kilnd on it.");
			return -1;
		default:
			fprintf(stderr, "usage: kilnd %s [--config FILE | --data-dir DIR] BACKUP.zip\n",
				what);
			return 2;
		}
	}
	if (data_dir && config_set(cfg, "data_dir", data_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd %s: --data-dir: %s\n", what, err);
		return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: kilnd %s [--config FILE | --data-dir DIR] BACKUP.zip\n", what);
		return 2;
	}
	*file = argv[optind];
	return 0;
}

/*
 * The start of both commands: parses the arguments into a new config.  NULL
 * with the exit status in *status when there is nothing more to do (help,
 * a usage error, no memory).
 */
static struct config *begin(int argc, char **argv, const char *what, const char **file,
			    int *status)
{
	struct config *cfg = malloc(sizeof(*cfg));
	int rc;

	*status = 1;
	if (!cfg)
		return NULL;
	rc = parse(argc, argv, what, cfg, file);
	if (rc) {
		free(cfg);
		*status = rc < 0 ? 0 : rc;
		return NULL;
	}
	log_set_level(LOG_WARN);
	return cfg;
}

/* Takes the snapshot into tmpdb and lists its image files; 0 or -1 (message printed). */
static int snapshot(const char *db_path, const char *tmpdb, struct bfiles *fl)
{
	char err[1024];

	for (int attempt = 1; attempt <= BACKUP_TRIES; attempt++) {
		struct store *st = NULL, *copy = NULL;
		int rc;

		if (store_open(db_path, &st, err, sizeof(err)) < 0 ||
		    store_backup(st, tmpdb, err, sizeof(err)) < 0) {
			fprintf(stderr, "kilnd backup: %s\n", err);
			store_close(st);
			return -1;
		}
		store_close(st);
		if (store_open(tmpdb, &copy, err, sizeof(err)) < 0) {
			fprintf(stderr, "kilnd backup: %s\n", err);
			return -1;
		}
		fl->missing[0] = '\0';
		rc = store_done_images(copy, bfiles_add, fl);
		store_close(copy);
		if (rc == STORE_OK)
			return 0;
		if (!fl->missing[0]) {
			fprintf(stderr, "kilnd backup: cannot list the images of the snapshot\n");
			return -1;
		}
		fprintf(stderr, "kilnd backup: %s changed after the snapshot (a batch was deleted?);"
			" taking a new one\n", fl->missing);
		bfiles_free(fl);
	}
	fprintf(stderr, "kilnd backup: the data dir kept changing under the backup (%d tries);"
		" try again\n", BACKUP_TRIES);
	return -1;
}

/* zip_open() with its error printed for the command what; NULL on failure. */
static zip_t *open_zip(const char *file, int flags, const char *what)
{
	zip_t *za;
	int zerr = 0;

	za = zip_open(file, flags, &zerr);
	if (!za) {
		zip_error_t ze;

		zip_error_init_with_code(&ze, zerr);
		fprintf(stderr, "kilnd %s: cannot open %s: %s\n", what, file, zip_error_strerror(&ze));
		zip_error_fini(&ze);
	}
	return za;
}

/* Adds the file at path to the zip as name; stored (not deflated) unless deflate. */
static int zip_add_file(zip_t *za, const char *name, const char *path, int64_t len, int deflate)
{
	zip_source_t *src = zip_source_file(za, path, 0, len);
	zip_int64_t idx;

	if (!src)
		return -1;
	idx = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8);
	if (idx < 0) {
		zip_source_free(src);
		return -1;
	}
	if (!deflate && zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0)
		return -1;
	return 0;
}

int backup_main(int argc, char **argv)
{
	struct config *cfg;
	struct bfiles fl;
	char db_path[1200], tmpdb[4200], token[1200];
	const char *file = NULL;
	struct stat sb;
	zip_t *za = NULL;
	int rc = 1;
	int64_t total = 0;

	memset(&fl, 0, sizeof(fl));
	cfg = begin(argc, argv, "backup", &file, &rc);
	if (!cfg)
		return rc;
	rc = 1;
	umask(077);
	fl.data_dir = cfg->data_dir;
	snprintf(db_path, sizeof(db_path), "%s/kiln.db", cfg->data_dir);
	snprintf(token, sizeof(token), "%s/admin.token", cfg->data_dir);
	snprintf(tmpdb, sizeof(tmpdb), "%s.db-tmp", file);
	if (stat(db_path, &sb) < 0) {
		fprintf(stderr, "kilnd backup: no store at %s (%s): is the data dir (--data-dir or"
			" data_dir in --config) right?\n", db_path, strerror(errno));
		goto out;
	}
	if (snapshot(db_path, tmpdb, &fl) < 0)
		goto out;
	za = open_zip(file, ZIP_CREATE | ZIP_TRUNCATE, "backup");
	if (!za)
		goto out;
	if (zip_add_file(za, "kiln.db", tmpdb, -1, 1) < 0 ||
	    (stat(token, &sb) == 0 && zip_add_file(za, "admin.token", token, -1, 1) < 0)) {
		fprintf(stderr, "kilnd backup: %s\n", zip_strerror(za));
		goto out;
	}
	for (size_t i = 0; i < fl.n; i++) {
		char path[1500];

		snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, fl.v[i].name);
		if (zip_add_file(za, fl.v[i].name, path, fl.v[i].bytes, 0) < 0) {
			fprintf(stderr, "kilnd backup: %s: %s\n", path, zip_strerror(za));
			goto out;
		}
		total += fl.v[i].bytes;
	}
	/* libzip writes a temporary file beside FILE and renames it on success */
	if (zip_close(za) < 0) {
		fprintf(stderr, "kilnd backup: cannot write %s: %s\n", file, zip_strerror(za));
		goto out;
	}
	za = NULL;
	fprintf(stderr, "kilnd backup: wrote %s: the store and %zu image(s) (%lld bytes of images)\n",
		file, fl.n, (long long)total);
	rc = 0;
out:
	if (za)
		zip_discard(za);
	unlink(tmpdb);
	bfiles_free(&fl);
	free(cfg);
	return rc;
}

/* ---- restore -------------------------------------------------------------- */

/* What restore wrote, to remove it again when it fails. */
struct written {
	char **paths;            /* files and directories, in the order made */
	size_t n, cap;
};

static int written_add(struct written *w, const char *path)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		char **v = realloc(w->paths, cap * sizeof(*v));

		if (!v)
			return -1;
		w->paths = v;
		w->cap = cap;
	}
	w->paths[w->n] = strdup(path);
	if (!w->paths[w->n])
		return -1;
	w->n++;
	return 0;
}

/* Removes what was written, newest first (files, then their directories). */
static void written_undo(struct written *w)
{
	for (size_t i = w->n; i-- > 0;)
		remove(w->paths[i]);      /* a file, or a directory emptied before it */
}

static void written_free(struct written *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->paths[i]);
	free(w->paths);
}

/* 1 when the directory exists and holds anything; 0 when it is empty or missing; -1 error. */
static int dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int any = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			any = 1;
			break;
		}
	}
	closedir(d);
	return any;
}

/*
 * Checks an entry name: kiln.db, admin.token or images/<hex24>/<hex24>.<ext>.
 * Returns 1 for an image (batch id copied into batch), 0 for the others, -1
 * for a name a kiln backup never holds.
 */
static int entry_kind(const char *name, char *batch)
{
	const char *ext;
	size_t el;

	if (strcmp(name, "kiln.db") == 0 || strcmp(name, "admin.token") == 0)
		return 0;
	if (strncmp(name, "images/", 7) != 0 || strlen(name) < 7 + ID_LEN + 1 + ID_LEN + 2)
		return -1;
	name += 7;
	if (strspn(name, HEX) != ID_LEN || name[ID_LEN] != '/' ||
	    strspn(name + ID_LEN + 1, HEX) != ID_LEN || name[2 * ID_LEN + 1] != '.')
		return -1;
	ext = name + 2 * ID_LEN + 2;
	el = strlen(ext);
	if (el == 0 || el > 7)
		return -1;
	for (size_t i = 0; i < el; i++) {
		if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
			return -1;
	}
	memcpy(batch, name, ID_LEN);
	batch[ID_LEN] = '\0';
	return 1;
}

/* Extracts entry idx to path (mode), fsynced; 0 or -1 with a message printed. */
static int extract(zip_t *za, zip_uint64_t idx, const char *path, unsigned mode)
{
	zip_file_t *zf = zip_fopen_index(za, idx, 0);
	char buf[65536];
	zip_int64_t n;
	int fd, rc = 0;

	if (!zf) {
		fprintf(stderr, "kilnd restore: %s\n", zip_strerror(za));
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		fprintf(stderr, "kilnd restore: cannot create %s: %s\n", path, strerror(errno));
		zip_fclose(zf);
		return -1;
	}
	while ((n = zip_fread(zf, buf, sizeof(buf))) > 0) {
		if (util_write_all(fd, buf, (size_t)n) < 0) {
			fprintf(stderr, "kilnd restore: cannot write %s: %s\n", path, strerror(errno));
			rc = -1;
			break;
		}
	}
	if (rc == 0 && n < 0) {
		fprintf(stderr, "kilnd restore: cannot read %s from the backup: %s\n", path,
			zip_file_strerror(zf));
		rc = -1;
	}
	if (rc == 0 && fsync(fd) < 0) {
		fprintf(stderr, "kilnd restore: cannot sync %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	close(fd);
	zip_fclose(zf);
	return rc;
}

/* What the restored store's check walks with. */
struct verify {
	zip_t *za;
	const char *data_dir;
	size_t n;
	char problem[1500];
};

/* store_done_images() callback: the file is in the backup, with the recorded size and CRC-32. */
static int verify_image(void *cls, const struct store_image_file *f)
{
	struct verify *v = cls;
	char name[256];
	zip_stat_t sb;
	zip_int64_t idx;

	snprintf(name, sizeof(name), "images/%s/%s.%s", f->batch_id, f->image_id, f->ext);
	idx = zip_name_locate(v->za, name, 0);
	if (idx < 0 || zip_stat_index(v->za, (zip_uint64_t)idx, 0, &sb) < 0) {
		snprintf(v->problem, sizeof(v->problem), "the store names %s, which the backup lacks",
			 name);
		return 1;
	}
	if ((int64_t)sb.size != f->bytes || sb.crc != f->crc32) {
		snprintf(v->problem, sizeof(v->problem), "%s does not have the size and CRC-32 the"
			 " store recorded for it", name);
		return 1;
	}
	v->n++;
	return 0;
}

/* Extracts every entry; 0 or -1 (message printed). */
static int extract_all(zip_t *za, const char *data_dir, struct written *w)
{
	zip_int64_t count = zip_get_num_entries(za, 0);
	char path[1500], dir[1300];

	snprintf(dir, sizeof(dir), "%s/images", data_dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "kilnd restore: cannot create %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (written_add(w, dir) < 0)
		return -1;
	for (zip_int64_t i = 0; i < count; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
		char batch[ID_LEN + 1];
		int kind = name ? entry_kind(name, batch) : -1;

		if (kind < 0) {
			fprintf(stderr, "kilnd restore: the backup holds \"%s\", which a kiln backup never"
				" does; nothing restored\n", name ? name : "?");
			return -1;
		}
		if (kind == 1) {
			snprintf(dir, sizeof(dir), "%s/images/%s", data_dir, batch);
			if (mkdir(dir, 0750) == 0) {
				if (written_add(w, dir) < 0)
					return -1;
			} else if (errno != EEXIST) {
				fprintf(stderr, "kilnd restore: cannot create %s: %s\n", dir,
					strerror(errno));
				return -1;
			}
		}
		snprintf(path, sizeof(path), "%s/%s", data_dir, name);
		if (written_add(w, path) < 0 ||
		    extract(za, (zip_uint64_t)i, path, kind == 1 ? 0640 : 0600) < 0)
			return -1;
	}
	return 0;
}

int restore_main(int argc, char **argv)
{
	struct config *cfg;
	struct written w;
	struct verify v;
	struct store *st = NULL;
	const char *file = NULL;
	char db_path[1200], err[1024];
	zip_t *za = NULL;
	int rc, has;

	memset(&w, 0, sizeof(w));
	memset(&v, 0, sizeof(v));
	cfg = begin(argc, argv, "restore", &file, &rc);
	if (!cfg)
		return rc;
	rc = 1;
	has = dir_has_entries(cfg->data_dir);
	if (has != 0) {
		if (has > 0)
			fprintf(stderr, "kilnd restore: the data dir %s is not empty: restore only goes"
				" into an empty or new data dir (move this one away first)\n", cfg->data_dir);
		else
			fprintf(stderr, "kilnd restore: cannot read the data dir %s: %s\n", cfg->data_dir,
				strerror(errno));
		goto out;
	}
	za = open_zip(file, ZIP_RDONLY | ZIP_CHECKCONS, "restore");
	if (!za)
		goto out;
	if (zip_name_locate(za, "kiln.db", 0) < 0) {
		fprintf(stderr, "kilnd restore: %s is not a kiln backup (it has no kiln.db)\n", file);
		goto out;
	}
	if (util_mkdir_p(cfg->data_dir, 0700) < 0) {
		fprintf(stderr, "kilnd restore: cannot create %s: %s\n", cfg->data_dir, strerror(errno));
		goto out;
	}
	if (extract_all(za, cfg->data_dir, &w) < 0)
		goto undo;
	snprintf(db_path, sizeof(db_path), "%s/kiln.db", cfg->data_dir);
	if (store_open(db_path, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd restore: %s\n", err);
		goto undo;
	}
	if (store_integrity_check(st) != STORE_OK) {
		fprintf(stderr, "kilnd restore: the store in %s fails SQLite's integrity check\n", file);
		goto undo;
	}
	v.za = za;
	v.data_dir = cfg->data_dir;
	if (store_done_images(st, verify_image, &v) != STORE_OK) {
		fprintf(stderr, "kilnd restore: %s\n", v.problem[0] ? v.problem :
			"cannot read the restored store");
		goto undo;
	}
	store_close(st);
	st = NULL;
	fprintf(stderr, "kilnd restore: restored the store and %zu image(s) into %s; start kilnd"
		" on it (batches that were running carry on)\n", v.n, cfg->data_dir);
	rc = 0;
	goto out;
undo:
	store_close(st);
	st = NULL;
	{
		char side[1300];

		/* SQLite's side files of the restored store, if it was opened */
		snprintf(side, sizeof(side), "%s/kiln.db-wal", cfg->data_dir);
		unlink(side);
		snprintf(side, sizeof(side), "%s/kiln.db-shm", cfg->data_dir);
		unlink(side);
	}
	written_undo(&w);
	fprintf(stderr, "kilnd restore: nothing restored; %s is as it was\n", cfg->data_dir);
out:
	store_close(st);
	if (za)
		zip_discard(za);
	written_free(&w);
	free(cfg);
	return rc;
}
