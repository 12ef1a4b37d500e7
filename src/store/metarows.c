/* metarows.c — many rows into the meta store in one statement: the tb_rows virtual table, whose
 * rows a C callback produces, read by an INSERT ... SELECT (meta.h, tb__meta_insert_rows). */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* The rows a running tb__meta_insert_rows offers (on the handle while its statement runs). */
struct tb__rows_src {
    size_t nrows;
    int ncols;
    tb__meta_row_fn fn;
    void *arg;
    int rc; /* the callback's error, its detail on the handle */
};

typedef struct rows_vtab {
    sqlite3_vtab base;
    tb_db *db;
} rows_vtab;

typedef struct rows_cursor {
    sqlite3_vtab_cursor base;
    size_t row;
    int filled; /* vals holds row `row` */
    tb__meta_val vals[TB__META_ROW_COLS];
} rows_cursor;

static int rows_connect(sqlite3 *sql, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    int rc = sqlite3_declare_vtab(sql, "CREATE TABLE x(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, "
                                       "c10, c11, c12, c13, c14, c15)");
    if (rc != SQLITE_OK) return rc;
    /* Only our own statements name it: never a view, a trigger or a schema. */
    sqlite3_vtab_config(sql, SQLITE_VTAB_DIRECTONLY);
    rows_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->db = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int rows_best_index(sqlite3_vtab *vt, sqlite3_index_info *ii)
{
    const struct tb__rows_src *s = ((rows_vtab *)vt)->db->rows;
    ii->estimatedRows = s ? (sqlite3_int64)s->nrows : 1;
    ii->estimatedCost = (double)ii->estimatedRows;
    return SQLITE_OK;
}

static int rows_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    rows_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *cur)
{
    sqlite3_free(cur);
    return SQLITE_OK;
}

/* Asks the callback for the cursor's row; a failure ends the statement with SQLITE_ERROR, its
 * detail staying on the handle. */
static int fill(rows_cursor *c)
{
    rows_vtab *v = (rows_vtab *)c->base.pVtab;
    struct tb__rows_src *s = v->db->rows;
    c->filled = 0;
    if (!s || c->row >= s->nrows) return SQLITE_OK;
    for (int i = 0; i < s->ncols; i++)
        c->vals[i] = (tb__meta_val){TB__VAL_NULL, 0, NULL, 0};
    int rc = s->fn(s->arg, c->row, c->vals);
    if (rc) {
        s->rc = rc;
        sqlite3_free(v->base.zErrMsg);
        v->base.zErrMsg = sqlite3_mprintf("%s", v->db->err.msg);
        return SQLITE_ERROR;
    }
    c->filled = 1;
    return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc,
                       sqlite3_value **argv)
{
    (void)idx;
    (void)idxstr;
    (void)argc;
    (void)argv;
    rows_cursor *c = (rows_cursor *)cur;
    c->row = 0;
    return fill(c);
}

static int rows_next(sqlite3_vtab_cursor *cur)
{
    rows_cursor *c = (rows_cursor *)cur;
    c->row++;
    return fill(c);
}

static int rows_eof(sqlite3_vtab_cursor *cur)
{
    return !((rows_cursor *)cur)->filled;
}

static int rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    rows_cursor *c = (rows_cursor *)cur;
    const struct tb__rows_src *s = ((rows_vtab *)cur->pVtab)->db->rows;
    if (!s || col < 0 || col >= s->ncols) {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    const tb__meta_val *v = &c->vals[col];
    switch (v->type) {
    case TB__VAL_INT:
        sqlite3_result_int64(ctx, v->i);
        break;
    case TB__VAL_TEXT:
        /* The text stays put until the next row is filled, and SQLite has made the row's record
         * by then: no copy. */
        sqlite3_result_text64(ctx, v->s ? v->s : "", v->n, SQLITE_STATIC, SQLITE_UTF8);
        break;
    default:
        sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out)
{
    *out = (sqlite3_int64)((rows_cursor *)cur)->row;
    return SQLITE_OK;
}

/* Eponymous only (no xCreate): `FROM tb_rows` needs no CREATE VIRTUAL TABLE. */
static const sqlite3_module rows_module = {
    .iVersion = 0,
    .xConnect = rows_connect,
    .xBestIndex = rows_best_index,
    .xDisconnect = rows_disconnect,
    .xOpen = rows_open,
    .xClose = rows_close,
    .xFilter = rows_filter,
    .xNext = rows_next,
    .xEof = rows_eof,
    .xColumn = rows_column,
    .xRowid = rows_rowid,
};

int tb__meta_rows_register(tb_db *db)
{
    int rc = sqlite3_create_module_v2(db->sql, "tb_rows", &rows_module, db, NULL);
    return rc == SQLITE_OK ? 0 : tb__meta_seterr_sqlite(db, rc, "cannot register tb_rows");
}

tb__meta_val tb__meta_text(const char *s)
{
    return s ? (tb__meta_val){TB__VAL_TEXT, 0, s, strlen(s)}
             : (tb__meta_val){TB__VAL_NULL, 0, 0, 0};
}

tb__meta_val tb__meta_int(int64_t i)
{
    return (tb__meta_val){TB__VAL_INT, i, NULL, 0};
}

int tb__meta_bind_vals(sqlite3_stmt *st, const tb__meta_val *vals, int n)
{
    for (int i = 0; i < n; i++) {
        const tb__meta_val *v = &vals[i];
        int rc = v->type == TB__VAL_INT    ? sqlite3_bind_int64(st, i + 1, v->i)
                 : v->type == TB__VAL_TEXT ? sqlite3_bind_text64(st, i + 1, v->s ? v->s : "", v->n,
                                                                 SQLITE_STATIC, SQLITE_UTF8)
                                           : sqlite3_bind_null(st, i + 1);
        if (rc != SQLITE_OK) return TB_ESTORE;
    }
    return 0;
}

int tb__meta_insert_rows(tb_db *db, tb__stmt_id id, const char *sql, size_t nrows, int ncols,
                         tb__meta_row_fn fn, void *arg, const char *what)
{
    if (ncols < 1 || ncols > TB__META_ROW_COLS)
        return tb__seterr(&db->err, TB_EINVAL, "%s: %d columns, at most %d", what, ncols,
                          TB__META_ROW_COLS);
    if (db->rows)
        return tb__seterr(&db->err, TB_EINVAL, "%s: rows are already being inserted", what);
    if (!nrows) return 0;
    sqlite3_stmt *st;
    int rc = tb__meta_stmt(db, id, sql, &st);
    if (rc) return rc;
    struct tb__rows_src src = {nrows, ncols, fn, arg, 0};
    db->rows = &src;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    }
    db->rows = NULL;
    if (s == SQLITE_DONE)
        rc = 0;
    else if (src.rc)
        rc = src.rc; /* the callback's detail is already on the handle */
    else
        rc = tb__meta_seterr_sqlite(db, s, what);
    tb__meta_stmt_done(st);
    return rc;
}
