/* manifest.c — reads manifest.json: the list of a batch's files and how each is written. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "tagbase.h"
#include "pipeline/manifest.h"

static const char *dup_str(tb__manifest *m, const char *s)
{
    return tb__arena_strdup(&m->arena, s);
}

/* A file name must stay inside the batch directory. */
static int safe_name(const char *s)
{
    if (!*s || *s == '/' || strlen(s) > 255) return 0;
    if (strstr(s, "..") || strchr(s, '/') || strchr(s, '\\')) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"') return 0;
    return 1;
}

/* Business types, kinds, formats and encodings are identifiers: they end up in tables, file
 * names and terminals, so they are held to [A-Za-z0-9_.-]{1,64}. */
static int safe_word(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-') return 0;
    return 1;
}

static int get_string(json_t *obj, const char *const *keys, const char **out)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(obj, *keys);
        if (json_is_string(v)) {
            *out = json_string_value(v);
            return 1;
        }
    }
    return 0;
}

static int parse_file(tb__manifest *m, json_t *f, size_t i, const char *source, tb__errbuf *eb)
{
    tb__manifest_file *mf = &m->files[i];
    static const char *const k_name[] = {"name", NULL};
    static const char *const k_type[] = {"business_type", NULL};
    static const char *const k_kind[] = {"kind", "data_kind", NULL};
    static const char *const k_format[] = {"format", NULL};
    static const char *const k_enc[] = {"encoding", NULL};
    struct {
        const char *const *keys;
        const char **dst;
    } strs[] = {{k_name, &mf->name},
                {k_type, &mf->business_type},
                {k_kind, &mf->data_kind},
                {k_format, &mf->format},
                {k_enc, &mf->encoding}};

    if (!json_is_object(f))
        return tb__seterr(eb, TB_EFORMAT, "%s: files[%zu] is not an object", source, i);
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        const char *v;
        if (!get_string(f, strs[k].keys, &v))
            return tb__seterr(eb, TB_EFORMAT, "%s: files[%zu]: '%s' is missing or not a string",
                              source, i, strs[k].keys[0]);
        if (k > 0 && !safe_word(v))
            return tb__seterr(eb, TB_EFORMAT,
                              "%s: files[%zu]: '%s' must be 1 to 64 letters, digits, '_', '.' or "
                              "'-'",
                              source, i, strs[k].keys[0]);
        if (!(*strs[k].dst = dup_str(m, v))) return tb__seterr(eb, TB_ENOMEM, "out of memory");
    }
    if (!safe_name(mf->name))
        return tb__seterr(eb, TB_EFORMAT,
                          "%s: files[%zu]: name must be a plain file name inside the batch "
                          "directory",
                          source, i);
    const char *fmt = mf->format;
    if (strcmp(fmt, "hive") && strcmp(fmt, "csv") && strcmp(fmt, "tsv") && strcmp(fmt, "jsonl"))
        return tb__seterr(eb, TB_EFORMAT,
                          "%s: files[%zu] '%s': format '%.32s' is not one of hive, csv, tsv, jsonl",
                          source, i, mf->name, fmt);

    json_t *h = json_object_get(f, "header");
    mf->header = json_is_true(h);
    if (h && !json_is_boolean(h))
        return tb__seterr(eb, TB_EFORMAT, "%s: files[%zu] '%s': 'header' must be true or false",
                          source, i, mf->name);

    json_t *cols = json_object_get(f, "columns");
    if (strcmp(fmt, "jsonl") != 0) {
        if (!json_is_array(cols) || json_array_size(cols) == 0)
            return tb__seterr(eb, TB_EFORMAT,
                              "%s: files[%zu] '%s': 'columns' must be a non-empty array", source, i,
                              mf->name);
        mf->ncolumns = json_array_size(cols);
    }

    json_t *rows = json_object_get(f, "rows");
    if (!json_is_integer(rows) || json_integer_value(rows) < 0)
        return tb__seterr(eb, TB_EFORMAT,
                          "%s: files[%zu] '%s': 'rows' must be a non-negative integer", source, i,
                          mf->name);
    mf->rows = (uint64_t)json_integer_value(rows);
    json_t *bytes = json_object_get(f, "bytes");
    if (json_is_integer(bytes) && json_integer_value(bytes) >= 0)
        mf->bytes = (uint64_t)json_integer_value(bytes);
    json_t *width = json_object_get(json_object_get(f, "defects"), "wrong_column_count");
    mf->bad_width = json_is_integer(width) && json_integer_value(width) >= 0
                        ? (int64_t)json_integer_value(width)
                        : -1;
    return 0;
}

static int parse_date(json_t *d, char out[9])
{
    long long v;
    if (json_is_integer(d)) {
        v = json_integer_value(d);
    } else if (json_is_string(d) && strlen(json_string_value(d)) == 8) {
        const char *s = json_string_value(d);
        v = 0;
        for (int i = 0; i < 8; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (s[i] - '0');
        }
    } else {
        return -1;
    }
    if (v < 19000101 || v > 21991231 || !tb_valid_date((int)v)) return -1;
    snprintf(out, 9, "%08lld", v);
    return 0;
}

int tb__manifest_parse(const char *json, size_t len, const char *source, tb__manifest *m,
                       tb__errbuf *eb)
{
    memset(m, 0, sizeof *m);
    tb__arena_init(&m->arena, 0);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!root) {
        rc = tb__seterr(eb, TB_EFORMAT, "%s: line %d, column %d: %s", source, jerr.line,
                        jerr.column, jerr.text);
        goto out_release;
    }
    if (!json_is_object(root)) {
        rc = tb__seterr(eb, TB_EFORMAT, "%s: the top level must be an object", source);
        goto out_release;
    }
    if (parse_date(json_object_get(root, "batch_date"), m->batch_date) != 0) {
        rc = tb__seterr(eb, TB_EFORMAT, "%s: 'batch_date' must be a valid date YYYYMMDD", source);
        goto out_release;
    }
    json_t *files = json_object_get(root, "files");
    if (!json_is_array(files)) {
        rc = tb__seterr(eb, TB_EFORMAT, "%s: 'files' must be an array", source);
        goto out_release;
    }
    m->nfiles = json_array_size(files);
    if (m->nfiles > TB__MANIFEST_MAX_FILES) {
        rc = tb__seterr(eb, TB_ELIMIT, "%s: %zu files listed, at most %d are allowed", source,
                        m->nfiles, TB__MANIFEST_MAX_FILES);
        m->nfiles = 0;
        goto out_release;
    }
    m->files = tb__arena_calloc(&m->arena, m->nfiles ? m->nfiles : 1, sizeof *m->files);
    if (!m->files) {
        rc = tb__seterr(eb, TB_ENOMEM, "out of memory");
        goto out_release;
    }
    for (size_t i = 0; i < m->nfiles; i++) {
        rc = parse_file(m, json_array_get(files, i), i, source, eb);
        if (rc) goto out_release;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(m->files[j].name, m->files[i].name) == 0) {
                rc = tb__seterr(eb, TB_EFORMAT, "%s: files[%zu]: '%s' is listed twice", source, i,
                                m->files[i].name);
                goto out_release;
            }
        }
    }
    json_decref(root);
    return 0;

out_release:
    json_decref(root);
    tb__manifest_release(m);
    return rc;
}

void tb__manifest_release(tb__manifest *m)
{
    tb__arena_release(&m->arena);
    m->files = NULL;
    m->nfiles = 0;
}
