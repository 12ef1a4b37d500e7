/* evcrypt.h — encryption at rest of the event store (docs/security.md, "Encryption at rest";
 * docs/collector.md, "Encryption at rest"): which key the event store's writers seal under, how its
 * whole files (checkpoint, quarantine, day partitions) are sealed and opened, and the re-sealing
 * that key rotation runs. Log records are sealed one by one in evlog.c (tb__c2_rec_seal).
 *
 * A sealed whole file is a sealed stream (store/crypt.h, "TBS1" header naming the key id) of the
 * file's clear image, in chunks of TB__EV_SEAL_CHUNK bytes, with associated data = the file's name
 * relative to the data directory ("events/state.bin", "events/parts/20261122.tbev"), so a file
 * copied over another does not open. A reader takes either form: clear images (a plaintext store,
 * one written before it was encrypted) are read as they are.
 *
 * Ownership: a tb__evkeys borrows its key and ring (from the data directory handle, or the
 * caller); everything returned is the caller's, as each function says. Thread-safety: no state of
 * its own; the key and ring are only read, so one tb__evkeys may be shared by threads. */
#ifndef TB_EVENTS_EVCRYPT_H
#define TB_EVENTS_EVCRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "store/crypt.h"
#include "tagbase.h"

#define TB__EV_SEAL_CHUNK ((size_t)1 << 20) /* plaintext bytes per sealed chunk */

/* The keys the event store uses. A NULL tb__evkeys pointer means both are NULL. */
typedef struct tb__evkeys {
    const tb__c2key *seal;   /* new files and log records are sealed under it; NULL: clear */
    const tb__keyring *ring; /* opens sealed ones by the key id they name; NULL: none can */
} tb__evkeys;

/* The keys of the data directory `db` is open on: its active key (NULL in plaintext mode) and
 * its key file (NULL when none was given). Borrowed from the handle: valid until it is closed. */
tb__evkeys tb__evkeys_of(tb_db *db);

/* Appends the sealed image of p[0, n) under `k` with associated data `name` to `out`. TB_ENOMEM,
 * TB_EINVAL (a name over TB__C2_STREAM_AD_MAX). */
int tb__ev_seal_image(const tb__c2key *k, const char *name, const void *p, size_t n, tb__buf *out);

/* When img[0, len) is a sealed image (untrusted bytes): opens it into *out (caller frees with
 * free; NUL-terminated, *outlen bytes before the NUL) and sets *key_id. When it is a clear image:
 * *out is NULL, *key_id 0 (the caller uses img). TB_ECORRUPT (bad framing, a chunk failing
 * authentication, cut or extended: the detail names `name` and the byte offset), TB_ENOENT (the
 * ring lacks the key, or no ring), TB_ENOMEM. Safe on any bytes (tests/fuzz/fuzz_evpart.c). */
int tb__ev_open_image(const tb__keyring *ring, const char *name, const void *img, size_t len,
                      char **out, size_t *outlen, uint32_t *key_id, tb__errbuf *eb);

/* Reads file `path` (at most `max` bytes on disk), whose associated data is `name`: its clear
 * image either way in *out (caller frees with free; NUL-terminated). *key_id (may be NULL): the
 * key it was sealed under, 0 when it was clear. Errors of tb__file_read_all and
 * tb__ev_open_image. */
int tb__ev_file_read(const char *path, const char *name, const tb__evkeys *k, size_t max,
                     char **out, size_t *outlen, uint32_t *key_id, tb__errbuf *eb);

/* Writes p[0, n) to `path` crash-safely (tb__file_write_atomic, mode 0640): sealed under k->seal
 * with associated data `name` when there is one, else as it is. */
int tb__ev_file_write(const char *path, const char *name, const tb__evkeys *k, const void *p,
                      size_t n, tb__errbuf *eb);

/* Key rotation's step for the event store (tagbase key rotate, before the meta store records the
 * new key): moves every log record into the day partitions (a roll and a compaction, with the
 * directory's current keys), then re-seals under `to` every file of <data>/events that holds
 * event data and is clear or sealed under another key: the checkpoint, the quarantine, every day
 * partition and every log segment. Each file is replaced crash-safely, and readers pick the key
 * by the id each file and record names, so a crash midway leaves a readable store (the key file
 * holds both keys until rotation ends). *files: the files re-sealed. Errors on the handle
 * (tb_errmsg), naming the file; nothing is retired by this function. A data directory without
 * events/ is 0 files. */
int tb__events_c2_reseal(tb_db *db, const tb__c2key *to, uint64_t *files);

#endif
