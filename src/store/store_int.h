/* store_int.h — private to src/store/: the layout of tb_db and the calls between datadir.c (the
 * directory, its stamp and lock) and meta.c (the SQLite meta store). Engines include meta.h. */
#ifndef TB_STORE_STORE_INT_H
#define TB_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "common/err.h"
#include "store/meta.h"
#include "tagbase.h"

/* The format of the directory itself (its layout and the files named in docs/storage.md),
 * written to tagbase.version as "tagbase-data 1\n". Independent of the meta store's schema. */
#define TB__FORMAT_VERSION 1

/* File names inside the data directory. */
#define TB__STAMP_FILE "tagbase.version"
#define TB__LOCK_FILE  "LOCK"
#define TB__META_FILE  "meta.db"

struct tb_db {
    char *path;       /* the directory, as given without trailing slashes (owned) */
    unsigned flags;   /* TB_OPEN_* */
    int lock_fd;      /* LOCK with our flock(LOCK_EX) on it; -1 for read-only handles */
    int format;       /* from tagbase.version */
    int schema_open;  /* user_version found when the meta store was opened */
    int schema;       /* user_version after migrations */
    unsigned actions; /* TB_DB_CREATED | TB_DB_MIGRATED: what opening did */
    sqlite3 *sql;     /* the meta store connection */
    sqlite3_stmt *stmt[TB__STMT_COUNT]; /* cache by tb__stmt_id; NULL until first use */
    tb__errbuf err;                     /* detail of the last failed call */
    int bulk; /* a tb__meta_begin_bulk transaction is open: foreign keys are off until it ends */
    int sort_saved_cache;   /* PRAGMA cache_size before tb__meta_sort_mode(db, 1) */
    int sort_saved;         /* sort_saved_cache holds it (sort mode is on) */
    struct tb__c2state *c2; /* encryption at rest (crypt.c); NULL: plaintext, no key file */
    struct tb__mdx *mdx;    /* the master-data look-up image in use (mdx.c), or NULL */
    char *mdx_file;         /* its file as md_image names it; NULL: built in memory */
    char *mdx_for;          /* in memory: the md_image value it stands in for (NULL: none) */
    int64_t mdx_version;    /* PRAGMA data_version when an in-memory image was built */
    struct tb__rows_src
        *rows; /* what tb_rows yields while tb__meta_insert_rows runs (metarows.c) */
};

/* Registers the tb_rows virtual table on the handle's connection (metarows.c). */
int tb__meta_rows_register(tb_db *db);

/* Opens (creating when `create`) the meta store of an open directory handle, configures the
 * connection and, for writers, applies pending migrations. Fills db->sql, db->schema_open,
 * db->schema and the TB_DB_MIGRATED action. On failure the detail is in db->err and db->sql may be
 * set: tb__meta_close releases it. */
int tb__meta_open(tb_db *db, int create);

/* Finalises cached statements and closes the connection (checkpointing the WAL for writers).
 * Safe on a handle whose meta store never opened. */
void tb__meta_close(tb_db *db);

/* Joins the directory and a file name into a new string (caller frees with free); NULL when out
 * of memory. */
char *tb__db_join(const tb_db *db, const char *name);

#endif
