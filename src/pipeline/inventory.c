/* inventory.c — `tagbase scan`: reads a batch directory's manifest and every file it lists,
 * counts rows and checks field counts, and records the batch in the meta store. The first step of
 * acquisition: it proves the batch is complete and readable before any module loads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "pipeline/manifest.h"
#include "pipeline/reader.h"
#include "store/file.h"
#include "store/meta.h"

#define MANIFEST_MAX_BYTES (16u << 20)

typedef struct inv_file {
    const char *name, *type, *kind, *format, *encoding;
    uint64_t rows, expected_rows, bytes, bad_width;
    int64_t expected_bad_width; /* -1: the manifest does not say */
} inv_file;

struct tb_inventory {
    char batch[9];
    size_t n;
    inv_file *files;
    tb__arena arena;
};

/* Reads one file to its end with the reader its manifest entry asks for. */
static int scan_file(tb_db *db, const char *path, const tb__manifest_file *mf, inv_file *out)
{
    tb__reader_opts o = {0};
    if (strcmp(mf->format, "csv") == 0) {
        o.format = TB__READER_CSV;
    } else if (strcmp(mf->format, "tsv") == 0) {
        o.format = TB__READER_TSV;
    } else {
        /* hive, and jsonl: a JSON text cannot hold a raw \x01, so each line is one field. */
        o.format = TB__READER_HIVE;
    }
    if (mf->header) o.flags |= TB__READER_HEADER;

    char err[TB__ERRMSG_MAX];
    tb__reader *r;
    int rc = tb__reader_open_file(path, &o, &r, err, sizeof err);
    if (rc) return tb__seterr(tb__db_err(db), rc, "%s", err);

    tb__record rec;
    while ((rc = tb__reader_next(r, &rec)) == 1) {
        out->rows++;
        if (mf->ncolumns && rec.nfields != mf->ncolumns) out->bad_width++;
    }
    if (rc < 0) {
        tb__seterr(tb__db_err(db), rc, "%s", tb__reader_errmsg(r));
    } else {
        out->bytes = tb__reader_offset(r);
    }
    tb__reader_close(r);
    return rc < 0 ? rc : 0;
}

/* Replaces the meta store's record of this batch in one transaction. */
static int record(tb_db *db, const tb_inventory *inv, const char *dir, const char *manifest_json)
{
    sqlite3_stmt *st;
    char now[TB__TIME_TEXT_LEN];
    uint64_t total = 0;
    tb__now_text(now);
    for (size_t i = 0; i < inv->n; i++)
        total += inv->files[i].rows;

    int rc = tb__meta_begin(db);
    if (rc) return rc;
    rc = tb__meta_stmt(db, TB__STMT_INV_BATCH_DELETE, "DELETE FROM batch WHERE batch_date = ?1",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, inv->batch, -1, SQLITE_STATIC);
    rc = tb__meta_run(db, st, "cannot replace batch");
    if (rc) goto out_rollback;

    rc = tb__meta_stmt(db, TB__STMT_INV_BATCH_INSERT,
                       "INSERT INTO batch (batch_date, source_dir, scanned_at, files, rows, "
                       "manifest_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                       &st);
    if (rc) goto out_rollback;
    sqlite3_bind_text(st, 1, inv->batch, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)inv->n);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)total);
    sqlite3_bind_text(st, 6, manifest_json, -1, SQLITE_STATIC);
    rc = tb__meta_run(db, st, "cannot record batch");
    if (rc) goto out_rollback;

    for (size_t i = 0; i < inv->n; i++) {
        const inv_file *f = &inv->files[i];
        rc = tb__meta_stmt(db, TB__STMT_INV_FILE_INSERT,
                           "INSERT INTO extract_file (batch_date, name, business_type, data_kind, "
                           "format, encoding, bytes, rows, bad_width) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           &st);
        if (rc) goto out_rollback;
        sqlite3_bind_text(st, 1, inv->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, f->type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, f->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, f->format, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, f->encoding, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)f->bytes);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)f->rows);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)f->bad_width);
        rc = tb__meta_run(db, st, "cannot record extract file");
        if (rc) goto out_rollback;
    }
    return tb__meta_commit(db);

out_rollback:
    tb__meta_rollback(db);
    return rc;
}

int tb_inventory_scan(tb_db *db, const char *dir, tb_inventory **out)
{
    *out = NULL;
    int rc = tb__db_check_writable(db);
    if (rc) return rc;

    tb__errbuf *eb = tb__db_err(db);
    tb__clearerr(eb);
    tb_inventory *inv = calloc(1, sizeof *inv);
    if (!inv) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    tb__arena_init(&inv->arena, 0);

    tb__manifest m;
    char *json = NULL;
    size_t jlen = 0;
    char *mpath = tb__arena_printf(&inv->arena, "%s/manifest.json", dir);
    if (!mpath) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out_free;
    }
    rc = tb__file_read_all(mpath, MANIFEST_MAX_BYTES, &json, &jlen, eb);
    if (rc) goto out_free;
    rc = tb__manifest_parse(json, jlen, mpath, &m, eb);
    if (rc) goto out_free;

    memcpy(inv->batch, m.batch_date, sizeof inv->batch);
    inv->n = m.nfiles;
    inv->files = tb__arena_calloc(&inv->arena, m.nfiles ? m.nfiles : 1, sizeof *inv->files);
    if (!inv->files) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out_manifest;
    }
    for (size_t i = 0; i < m.nfiles; i++) {
        const tb__manifest_file *mf = &m.files[i];
        inv_file *f = &inv->files[i];
        f->name = tb__arena_strdup(&inv->arena, mf->name);
        f->type = tb__arena_strdup(&inv->arena, mf->business_type);
        f->kind = tb__arena_strdup(&inv->arena, mf->data_kind);
        f->format = tb__arena_strdup(&inv->arena, mf->format);
        f->encoding = tb__arena_strdup(&inv->arena, mf->encoding);
        f->expected_rows = mf->rows;
        f->expected_bad_width = mf->bad_width;
        char *path = tb__arena_printf(&inv->arena, "%s/%s", dir, mf->name);
        if (!f->name || !f->type || !f->kind || !f->format || !f->encoding || !path) {
            rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
            goto out_manifest;
        }
        rc = scan_file(db, path, mf, f);
        if (rc) goto out_manifest;
        tb__log_debug("scan", "%s: %llu rows, %llu bytes", f->name, (unsigned long long)f->rows,
                      (unsigned long long)f->bytes);
    }
    rc = record(db, inv, dir, json);
    if (rc) goto out_manifest;
    tb__manifest_release(&m);
    free(json);
    *out = inv;
    return 0;

out_manifest:
    tb__manifest_release(&m);
out_free:
    free(json);
    tb_inventory_free(inv);
    return rc;
}

void tb_inventory_free(tb_inventory *inv)
{
    if (!inv) return;
    tb__arena_release(&inv->arena);
    free(inv);
}

const char *tb_inventory_batch(const tb_inventory *inv)
{
    return inv->batch;
}

size_t tb_inventory_nfiles(const tb_inventory *inv)
{
    return inv->n;
}

const char *tb_inventory_file_name(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].name : NULL;
}

const char *tb_inventory_file_type(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].type : NULL;
}

const char *tb_inventory_file_kind(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].kind : NULL;
}

uint64_t tb_inventory_file_rows(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].rows : 0;
}

uint64_t tb_inventory_file_expected_rows(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].expected_rows : 0;
}

uint64_t tb_inventory_file_bytes(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].bytes : 0;
}

uint64_t tb_inventory_file_bad_width(const tb_inventory *inv, size_t i)
{
    return i < inv->n ? inv->files[i].bad_width : 0;
}

const char *tb_inventory_file_check(const tb_inventory *inv, size_t i)
{
    if (i >= inv->n) return NULL;
    const inv_file *f = &inv->files[i];
    if (f->rows != f->expected_rows) return "rows differ from manifest";
    if (f->expected_bad_width >= 0 && f->bad_width != (uint64_t)f->expected_bad_width)
        return "field counts differ from manifest";
    return "ok";
}
