/* evmeta.h — event tracking's rows in the meta store: sources (apps and their write keys), the
 * tracking plan of each source with every version kept, and the real-time tag rules. Errors are on
 * the handle (tb_errmsg). Handles are not thread-safe: callers serialise. */
#ifndef TB_EVENTS_EVMETA_H
#define TB_EVENTS_EVMETA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tagbase.h"

#define TB__EV_KEY_LEN 40 /* a write key: 40 hex digits (160 random bits) */

/* The unkeyed BLAKE2b-256 of a write key (keys are random, so no salt is needed). */
void tb__ev_key_hash(const char *key, uint8_t out[32]);

/* Adds a source and writes its new write key (shown once, stored only hashed) to `key`.
 * TB_EINVAL (bad name), TB_EEXIST, TB_ESTORE. */
int tb__ev_source_add(tb_db *db, const char *name, const char *project, const char *user,
                      char key[TB__EV_KEY_LEN + 1]);
/* Revokes a source's key: its requests get 401 from then on. TB_ENOENT. */
int tb__ev_source_revoke(tb_db *db, const char *name);

typedef struct tb__ev_source {
    uint32_t id;
    const char *name, *project, *key_hint, *created_at, *created_by, *revoked_at; /* borrowed */
    uint8_t key_hash[32];
} tb__ev_source;
typedef int (*tb__ev_source_fn)(void *arg, const tb__ev_source *s);
/* {name, project, key_hint, created_at, created_by, revoked_at?} of a source (new reference; never
 * the key or its hash): what the CLI and the API list. */
json_t *tb__ev_source_json(const tb__ev_source *s);
/* Calls fn for every source, oldest first; a non-zero return stops and is returned. */
int tb__ev_source_list(tb_db *db, tb__ev_source_fn fn, void *arg);

/* Checks a tracking plan's text (docs/events.md, "Tracking plan"); on error `why` says where. */
int tb__ev_plan_check(const char *text, char *why, size_t cap);
/* Stores a new version of `source`'s plan (checked first). *version: its number. */
int tb__ev_plan_put(tb_db *db, const char *source, const char *text, const char *user,
                    int *version);
/* A version of the plan (0: the newest); caller frees *text with free(). TB_ENOENT. */
int tb__ev_plan_get(tb_db *db, const char *source, int version, char **text, int *got_version);
/* Appends {version, created_at, created_by} of every version to the array `out`. */
int tb__ev_plan_versions(tb_db *db, const char *source, json_t *out);

/* Checks real-time rules' text (realtime.c). */
int tb__ev_rules_check(const char *text, char *why, size_t cap);
/* Stores a new version of the rules. */
int tb__ev_rules_put(tb_db *db, const char *text, const char *user, int *version);
/* The newest rules; caller frees *text. TB_ENOENT when none were ever loaded. */
int tb__ev_rules_get(tb_db *db, char **text, int *version);

#endif
