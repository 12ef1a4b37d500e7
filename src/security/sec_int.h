/* sec_int.h — what the security module's own files share (not for callers: see security.h):
 * libsodium start-up, the keyed hash of sessions and tokens, role look-ups inside a transaction,
 * and the audit append for a transaction already open. */
#ifndef TB_SECURITY_SEC_INT_H
#define TB_SECURITY_SEC_INT_H

#include <stddef.h>

#include "security/security.h"

#define TB__SEC_HEX_LEN 65 /* 32 bytes as hex and a NUL */

/* Calls sodium_init once per process. Returns 0, or TB_ERR (with a detail) if libsodium cannot
 * start (no entropy source). */
int tb__sec_sodium(tb_db *db);

/* Writes len bytes as lowercase hex into out (2 * len + 1 bytes). */
void tb__sec_hex(const unsigned char *b, size_t len, char *out);

/* 32 random bytes as hex into out[65]. */
void tb__sec_random_hex(char out[TB__SEC_HEX_LEN]);

/* The keyed BLAKE2b-256 of `text` in hex, with the store's key (setting 'security.hash_key',
 * created on first use: needs a writable handle then). */
int tb__sec_keyed_hash(tb_db *db, const char *text, char out[TB__SEC_HEX_LEN]);

/* The permissions of role `name`: built-in from the static table, custom from the store.
 * TB_ENOENT "no role 'x'". */
int tb__sec_role_perms(tb_db *db, const char *name, unsigned *perms);

/* Inserts or refreshes the built-in roles; a write transaction must be open. */
int tb__sec_builtin_roles_put(tb_db *db);

/* Comma-separated names of the bits of perms into out[cap]. */
void tb__sec_perms_text(unsigned perms, char *out, size_t cap);

/* Permissions from a stored comma-separated list; names this binary does not know (a newer
 * binary's permission) grant nothing. */
unsigned tb__sec_perms_lenient(const char *text);

/* tb__audit's body for a transaction the caller has open. */
int tb__sec_audit_in_tx(tb_db *db, const tb__principal *who, const char *remote, const char *action,
                        const char *object, const char *detail, const char *outcome);

/* Starts a write transaction unless one is open; *own says whether we started it (and so must
 * commit or roll it back). */
int tb__sec_begin(tb_db *db, int *own);
/* Ends what tb__sec_begin started: commit when rc is 0, else roll back. Returns rc, or the
 * commit's error. A no-op returning rc when !own. */
int tb__sec_end(tb_db *db, int own, int rc);

#endif
