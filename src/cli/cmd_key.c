/* cmd_key.c — tagbase key: the key file of encryption at rest (init), key rotation (rotate: also
 * how a plaintext store is encrypted) and what the key file and the data directory hold (status).
 * docs/security.md, "Encryption at rest". */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "events/evcrypt.h"
#include "pipeline/identity.h"
#include "security/rekey.h"
#include "store/crypt.h"
#include "store/file.h"

static const char usage[] = "init|rotate|status [--key-file PATH] [--data DIR] [--json]";

static int init(const char *path, const char *dir)
{
    tb__errbuf eb;
    tb__clearerr(&eb);
    if (access(path, F_OK) == 0)
        return tb__cli_fail("key", "key file '%s' exists already ('tagbase key rotate' adds a key)",
                            path);
    if (tb__c2_key_outside(path, dir, &eb)) return tb__cli_fail("key", "%s", eb.msg);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (tb__mkdir_p(parent, 0700, &eb)) return tb__cli_fail("key", "%s", eb.msg);
    }
    tb__keyring *k;
    uint32_t id;
    int rc = tb__keyring_new(path, &k, &eb);
    if (!rc) rc = tb__keyring_add(k, &id, &eb);
    if (!rc) rc = tb__keyring_save(k, &eb);
    tb__keyring_free(k);
    if (rc) return tb__cli_fail("key", "%s", eb.msg);
    printf("created key file %s (key %u, mode 0600)\n"
           "back it up apart from the data directory: without it the encrypted fields cannot be "
           "read\n",
           path, id);
    return 0;
}

static int rotate(const char *path, const char *dir)
{
    char err[512];
    tb_db *db;
    if (tb_db_open(dir, 0, &db, err, sizeof err)) return tb__cli_fail("key", "%s", err);
    int status = 0;
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__keyring *ring = tb__c2_ring(db);
    const tb__c2key *cur = tb__c2_active(db);
    uint32_t from = cur ? cur->id : 0;
    /* A key newer than the one in use is taken (one left by an interrupted rotation, or the
     * key init made for a plaintext store); otherwise a new one is made and saved first, so that
     * whatever happens next, the key file holds every key the directory may need. */
    const tb__c2key *to = tb__keyring_newest(ring);
    if (!to || to->id <= from) {
        uint32_t id;
        if (tb__keyring_add(ring, &id, &eb) || tb__keyring_save(ring, &eb)) {
            status = tb__cli_fail("key", "%s", eb.msg);
            goto out;
        }
        to = tb__keyring_get(ring, id);
    }
    tb__c2key target = *to;
    uint64_t rows, evfiles = 0;
    tb__reseal_counts files = {0};
    /* Files first, the meta store last: the directory records the new key only once every file
     * is under it, and until then the key file holds both keys, so a crash anywhere leaves every
     * file readable and the next rotation finishes the job. */
    if (tb__files_c2_reseal(db, &target, &files) || tb__events_c2_reseal(db, &target, &evfiles)) {
        status = tb__cli_fail("key",
                              "%s (the meta store still records %s; run 'tagbase key "
                              "rotate' again)",
                              tb_errmsg(db), from ? "the old key" : "plaintext");
        goto out;
    }
    if (tb__md_c2_rekey(db, &target, &rows)) {
        status = tb__cli_fail("key", "%s (nothing changed: still %s)", tb_errmsg(db),
                              from ? "under the old key" : "plaintext");
        goto out;
    }
    /* The directory no longer needs any other key: forget their bytes (one key file per data
     * directory; backups taken before now need the key file backed up with them). */
    int retired = 0;
    for (size_t i = 0;; i++) {
        uint32_t id;
        int usable;
        const char *date;
        if (tb__keyring_entry(ring, i, &id, &usable, &date)) break;
        if (usable && id != target.id && tb__keyring_retire(ring, id, &eb) == 0) retired++;
    }
    if (retired && tb__keyring_save(ring, &eb)) {
        status =
            tb__cli_fail("key", "re-encrypted, but %s (run 'tagbase key rotate' again)", eb.msg);
        goto out;
    }
    if (from)
        printf(
            "rotated: %llu rows, %llu domain segments, %llu snapshot columns, %llu tag files and "
            "%llu event files re-encrypted under key %u; key %u retired and removed from %s\n",
            (unsigned long long)rows, (unsigned long long)files.segments,
            (unsigned long long)files.snapshot_files, (unsigned long long)files.tag_files,
            (unsigned long long)evfiles, target.id, from, path);
    else
        printf("encrypted: %llu rows of master data, %llu domain segments, %llu snapshot columns, "
               "%llu tag files and %llu event files sealed under key %u (the store was "
               "plaintext)\n",
               (unsigned long long)rows, (unsigned long long)files.segments,
               (unsigned long long)files.snapshot_files, (unsigned long long)files.tag_files,
               (unsigned long long)evfiles, target.id);
out:
    tb_db_close(db);
    return status;
}

static int status(const char *path, const char *dir, int json)
{
    tb__errbuf eb;
    tb__clearerr(&eb);
    tb__keyring *k = NULL;
    if (path && tb__keyring_load(path, &k, &eb)) return tb__cli_fail("key", "%s", eb.msg);
    char err[512];
    tb_db *db = NULL;
    tb__c2_info c2 = {0};
    int open_rc = tb_db_open(dir, TB_OPEN_READONLY, &db, err, sizeof err);
    if (!open_rc) tb__c2_info_get(db, &c2);
    json_t *keys = json_array();
    for (size_t i = 0; k; i++) {
        uint32_t id;
        int usable;
        const char *date;
        if (tb__keyring_entry(k, i, &id, &usable, &date)) break;
        const char *state = !usable                           ? "retired"
                            : c2.encrypted && c2.key_id == id ? "active"
                                                              : "available";
        json_array_append_new(keys, json_pack("{s:i, s:s, s:s}", "id", (int)id, "state", state,
                                              usable ? "created" : "retired_at", date));
    }
    if (json) {
        json_t *doc =
            json_pack("{s:o, s:o, s:s, s:o, s:b, s:o, s:b, s:i}", "key_file",
                      path ? json_string(path) : json_null(), "keys", keys, "data", dir, "error",
                      open_rc ? json_string(err) : json_null(), "encrypted", c2.encrypted, "key_id",
                      c2.encrypted ? json_integer(c2.key_id) : json_null(), "pending", c2.pending,
                      "retired_keys", c2.retired);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        printf("key file:       %s\n", path ? path : "none (--key-file, TAGBASE_KEY_FILE)");
        size_t i;
        json_t *v;
        json_array_foreach(keys, i, v)
        {
            printf("  key %-4lld %-10s %s\n",
                   (long long)json_integer_value(json_object_get(v, "id")),
                   json_string_value(json_object_get(v, "state")),
                   json_string_value(json_object_get(
                       v, json_object_get(v, "created") ? "created" : "retired_at")));
        }
        printf("data directory: %s\n", dir);
        if (open_rc)
            printf("  cannot open: %s\n", err);
        else if (c2.encrypted)
            printf("  C2 fields encrypted with key %u; %d key(s) retired before\n", c2.key_id,
                   c2.retired);
        else
            printf("  C2 fields in clear%s\n",
                   c2.pending ? " (run 'tagbase key rotate' to encrypt them)" : "");
        json_decref(keys);
    }
    tb_db_close(db);
    tb__keyring_free(k);
    return open_rc ? 1 : 0;
}

int tb__cmd_key(int argc, char **argv)
{
    const char *dir = NULL, *verb = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r = tb__cli_data_opt(argc, argv, &i, &dir);
        if (r < 0) return tb__cli_usage("key", usage);
        if (r > 0) continue;
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tagbase key %s\n\n"
                   "  init    create the key file (random 32-byte key 1, mode 0600) outside the "
                   "data directory\n"
                   "  rotate  re-encrypt every C2 value under a new key in one transaction and "
                   "retire the old one;\n"
                   "          on a plaintext data directory: encrypt it under the key file's key\n"
                   "  status  the key file's keys and which one the data directory uses\n"
                   "The key file is --key-file PATH or $TAGBASE_KEY_FILE (docs/security.md).\n",
                   usage);
            return 0;
        } else if (!verb) {
            verb = argv[i];
        } else {
            return tb__cli_usage("key", usage);
        }
    }
    if (!dir) dir = tb_default_data_dir();
    const char *path = tb__c2_key_file();
    if (!verb) return tb__cli_usage("key", usage);
    if (strcmp(verb, "status") == 0) return status(path, dir, json);
    if (!path) return tb__cli_fail("key", "no key file: give --key-file PATH or TAGBASE_KEY_FILE");
    if (strcmp(verb, "init") == 0) return init(path, dir);
    if (strcmp(verb, "rotate") == 0) return rotate(path, dir);
    return tb__cli_usage("key", usage);
}
