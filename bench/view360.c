/* view360.c — times the 360-degree view as a server answers it: one process, the tag store
 * opened once (cached), then tb_customer_360 for the same customer again and again: golden record,
 * keys, relations, history and conflicts from SQLite, every tag's value from the mapped store,
 * segments, JSON. Built by `make build/view360`.
 *
 *   view360 DATA_DIR CUSTOMER [RUNS]      prints {"runs","first_ms","median_ms","p99_ms"} */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tagbase.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: view360 DATA_DIR CUSTOMER [RUNS]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 200;
    if (runs < 2) runs = 2;
    tb_db *db;
    char err[512];
    if (tb_db_open(argv[1], TB_OPEN_READONLY, &db, err, sizeof err)) {
        fprintf(stderr, "view360: %s\n", err);
        return 1;
    }
    double *t = calloc((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++) {
        char *json;
        double a = now_ms();
        if (tb_customer_360(db, argv[2], NULL, &json)) {
            fprintf(stderr, "view360: %s\n", tb_errmsg(db));
            return 1;
        }
        t[i] = now_ms() - a;
        free(json);
    }
    double first = t[0];
    qsort(t + 1, (size_t)runs - 1, sizeof *t, cmp);
    printf("{\"runs\":%d,\"first_ms\":%.3f,\"median_ms\":%.3f,\"p99_ms\":%.3f}\n", runs - 1, first,
           t[1 + (runs - 1) / 2], t[1 + (runs - 1) * 99 / 100]);
    free(t);
    tb_db_close(db);
    return 0;
}
