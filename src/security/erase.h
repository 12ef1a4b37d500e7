/* erase.h — erasure of a person (PIPL art. 47): `tagbase customer erase` and POST
 * /api/v1/customers/{id}/erase call tb__customer_erase, which removes one person from every store
 * of the data directory and then proves it by scanning every file for their identifiers;
 * tb__customer_erase_verify reruns the proof later. docs/security.md, "Erasure", is the manual.
 *
 * Other stores add their own step with tb__erase_register (the event store: its partitions).
 *
 * Ownership: JSON documents returned are caller-owned (json_decref); everything passed in is
 * borrowed. Thread-safety: as the tb_db handle; the step registry is process-wide and must be
 * filled before the first erase runs (registration is not synchronised with running erasures).
 * Errors: 0 or negative TB_E*, detail on the handle: TB_ENOENT (no such customer or erasure),
 * TB_EPERM (permission, scope, approval missing/not matching/not approved/used: audited denied),
 * TB_EINVAL, TB_ECORRUPT (a store failed its checks before it was rewritten: nothing was
 * changed), TB_EIO, TB_ESTORE, TB_ENOMEM. Details never hold the person's identifiers. */
#ifndef TB_SECURITY_ERASE_H
#define TB_SECURITY_ERASE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "security/security.h"

/* One store's erase step. Called once per erasure after the built-in stores' files were
 * rewritten and before the meta-store transaction that tombstones the golden record: `gid` is
 * the person's live internal id, gids[0..ngids) every internal id they had (gid and the records
 * merged into it), identifiers[0..n) every identifier they had in clear (customer numbers of
 * every system, ID number, mobiles, names; held in memory only: never log or store them).
 * The step removes the person from its store crash-safely, writes what it did into `report` (an
 * empty object it owns: counts only, no identifiers) and returns 0, or a TB_E* with the detail on
 * db, which stops the erasure before the meta store is changed (it is safe to run again: steps
 * must be idempotent). The step may use db (no transaction is open). */
typedef int (*tb__erase_step)(tb_db *db, uint32_t gid, const uint32_t *gids, size_t ngids,
                              const char *const *identifiers, size_t n, json_t *report);

/* A store's proof: counts how many times any of identifiers[0..n) occurs in the store's data as
 * it would read it (decompressed), into *found, with anything worth saying in `report` (counts
 * only). Needed only for stores whose files are compressed or encrypted, where the raw-byte scan
 * of the data directory cannot see the identifiers. */
typedef int (*tb__erase_check)(tb_db *db, const char *const *identifiers, size_t n, uint64_t *found,
                               json_t *report);

/* Registers a step (and, may be NULL, its proof) under `store` ([a-z0-9_]{1,32}, e.g. "events"):
 * every later erasure runs it and reports under that name. Registering the same name again
 * replaces it. TB_EINVAL (bad name, fn NULL), TB_ELIMIT (more than 16 stores). Not thread-safe:
 * call it at start-up (e.g. from the module's init function). */
int tb__erase_register(const char *store, tb__erase_step fn, tb__erase_check check);

/* Erases `customer` (customer number, ID number, mobile or gid) as `who` from `remote`, with the
 * approved request `approval` (kind "customer_erase", payload {"gid": the live gid}, asked by
 * `who`, approved by somebody else; used once, in the transaction that tombstones the record).
 * `who` needs user.admin and pii.clear and an "all" scope. *out (may be NULL):
 * {"erasure_id", "gid", "gids", "identifiers": {KIND: count}, "stores": {...}, "proof": {...}}.
 * Audited "customer.erase" (object "erasure:N", detail the gid and counts); refusals audited
 * "denied". When the proof finds anything the erasure is still committed (it cannot be undone)
 * and the answer says "ok": false with where it was found. */
int tb__customer_erase(tb_db *db, const tb__principal *who, const char *remote,
                       const char *customer, int64_t approval, json_t **out);

/* Reruns the proof of an erasure: `what` is an erasure id, or an identifier of the erased person
 * (customer number, ID number, mobile), recognised by its keyed hash. Every file of the data
 * directory is scanned for every stored keyed hash (runs of letters and digits of the stored
 * lengths), and for `what` in clear when it is an identifier. *out: {"erasure_id", "gid",
 * "verified_at", "ok", "stores": {...}, "kinds": {...}}. Audited "customer.erase_verify".
 * TB_ENOENT "no erasure matches" when neither. */
int tb__customer_erase_verify(tb_db *db, const tb__principal *who, const char *remote,
                              const char *what, json_t **out);

/* The keyed 64-bit hash (SipHash-2-4, hex) of an identifier as erasure records keep it, and 1 in
 * *erased when an erasure recorded it: what a load uses to recognise a person who was erased. */
int tb__erasure_known(tb_db *db, const char *identifier, int *erased);

#endif
