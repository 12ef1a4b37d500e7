/* manifest.h — the batch manifest (manifest.json beside a directory of extracts): what each file
 * is, so the pipeline knows how to read it. Parsed from untrusted bytes with explicit length. */
#ifndef TB_PIPELINE_MANIFEST_H
#define TB_PIPELINE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/err.h"

#define TB__MANIFEST_MAX_FILES 1000 /* a batch is one file per business type */

/* One file of the batch. Strings live in the manifest's arena. */
typedef struct tb__manifest_file {
    const char *name;          /* file name relative to the batch directory; no '/' or ".." */
    const char *business_type; /* customer, deposit, loan, ... */
    const char *data_kind;     /* mart, external, model, events, reference, truth */
    const char *format;        /* hive, csv, tsv or jsonl */
    const char *encoding;      /* UTF-8 or GB18030 */
    int header;                /* 1: the first line names the columns */
    size_t ncolumns;           /* 0 for jsonl */
    uint64_t rows;             /* data rows the producer wrote */
    uint64_t bytes;            /* size the producer wrote; 0 when not stated */
    int64_t bad_width;         /* rows written with a wrong field count on purpose
                                  ("defects": {"wrong_column_count": N}); -1 when not stated */
} tb__manifest_file;

typedef struct tb__manifest {
    char batch_date[9]; /* YYYYMMDD */
    size_t nfiles;
    tb__manifest_file *files;
    tb__arena arena; /* owns files[] and their strings */
} tb__manifest;

/* Parses `len` bytes of JSON at `json`. The manifest needs "batch_date" ("YYYYMMDD" or integer)
 * and "files": an array of objects with "name", "business_type", "kind" (or "data_kind"),
 * "format", "encoding", "header", "columns" (array of names or objects with "name") and
 * "rows"; optional "bytes" and "defects": {"wrong_column_count": N}. Unknown keys are ignored. On
 * success fills *m (release with tb__manifest_release); on failure *m holds nothing to release and
 * `eb` says which key of which file is wrong (TB_EFORMAT), or TB_ENOMEM. `source` names the
 * manifest in messages. */
int tb__manifest_parse(const char *json, size_t len, const char *source, tb__manifest *m,
                       tb__errbuf *eb);

void tb__manifest_release(tb__manifest *m);

#endif
