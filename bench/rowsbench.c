/* rowsbench.c — the cost of a row into the meta store, the two ways: one INSERT statement per row
 * (bind, step, reset) and one INSERT ... SELECT from tb_rows (tb__meta_insert_rows), for rows
 * shaped like party_key's (system, key, gid, batch, load id) inserted in primary-key order into an
 * empty table of a fresh data directory, in one transaction. Built by `make build/rowsbench`; run
 * by bench/rows.sh.
 *
 *   rowsbench DATA_DIR stmt|rows [N]     prints {"way","rows","seconds","ns_per_row"} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/meta.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct src {
    char key[24];
};

/* Row i: customer numbers of 12 digits, increasing, as the load writes them (sorted). */
static int row(void *arg, size_t i, tb__meta_val *v)
{
    struct src *s = arg;
    int n = snprintf(s->key, sizeof s->key, "8%011zu", i * 3 + 7);
    v[0] = tb__meta_text("core");
    v[1] = (tb__meta_val){TB__VAL_TEXT, 0, s->key, (size_t)n};
    v[2] = tb__meta_int((int64_t)i);
    v[3] = tb__meta_text("20261121");
    v[4] = tb__meta_int(1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "stmt") && strcmp(argv[2], "rows"))) {
        fprintf(stderr, "usage: rowsbench DATA_DIR stmt|rows [N]\n");
        return 2;
    }
    size_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 5000000;
    char err[256] = "";
    tb_db *db = NULL;
    if (tb_db_open(argv[1], TB_OPEN_CREATE, &db, err, sizeof err)) {
        fprintf(stderr, "rowsbench: %s\n", err);
        return 1;
    }
    int rc = tb__meta_begin_bulk(db);
    struct src s;
    tb__meta_val v[5];
    double t0 = now();
    if (!rc && !strcmp(argv[2], "stmt")) {
        sqlite3_stmt *st;
        rc = tb__meta_stmt(db, TB__STMT_ID_INS_KEY,
                           "INSERT INTO party_key (system, key, gid, first_batch, load_id) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                           &st);
        for (size_t i = 0; !rc && i < n; i++) {
            row(&s, i, v);
            rc = tb__meta_bind_vals(st, v, 5);
            if (!rc) rc = tb__meta_run(db, st, "cannot insert a key");
        }
    } else if (!rc) {
        rc = tb__meta_insert_rows(db, TB__STMT_ID_INS_KEY,
                                  "INSERT INTO party_key (system, key, gid, first_batch, load_id) "
                                  "SELECT c0, c1, c2, c3, c4 FROM tb_rows",
                                  n, 5, row, &s, "cannot insert keys");
    }
    double secs = now() - t0;
    if (!rc) rc = tb__meta_commit(db);
    if (rc)
        fprintf(stderr, "rowsbench: %s\n", tb_errmsg(db));
    else
        printf("{\"way\":\"%s\",\"rows\":%zu,\"seconds\":%.3f,\"ns_per_row\":%.0f}\n", argv[2], n,
               secs, secs / (double)n * 1e9);
    tb_db_close(db);
    return rc ? 1 : 0;
}
