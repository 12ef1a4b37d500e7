/* crypt.h — encryption at rest of C2 fields (JR/T 0171: names, ID numbers, mobiles, addresses):
 * the key file that lives outside the data directory, the keys a data directory needs, and the
 * one seal / reveal / blind-index helper every reader and writer of such a value goes through.
 * docs/security.md, "Encryption at rest", explains the design and the threat model.
 *
 * Values. A sealed value is text: "$" KEY_ID "$" base64url(nonce[24] || ciphertext || tag[16]),
 * XChaCha20-Poly1305 (libsodium crypto_aead_xchacha20poly1305_ietf) with a random nonce under a
 * key derived from the key file's key KEY_ID, and associated data = the column it belongs to
 * ("party.attrs", "party.cert_no", ...), so a value copied into another column does not open. A
 * blind index is text: "#" base64url(BLAKE2b-128 keyed with a second derived key, over the column
 * name, a NUL and the value): equal values give equal indexes, so equality look-ups keep working,
 * and nothing else can be learnt without the key.
 *
 * Modes of a data directory. "plaintext": no key recorded (stores made before this feature, and
 * stores opened without a key file); every helper passes values through unchanged. "encrypted":
 * the table c2_key (migration 10) names the active key id and a check value; opening then needs a
 * key file holding that key, and a wrong or missing one is refused before any engine runs.
 *
 * Ownership: a tb__keyring is created by tb__keyring_load / tb__keyring_new and freed (caller
 * frees) with tb__keyring_free; key material is zeroed on free. Everything else is borrowed.
 * Errors: 0 or a negative TB_E*, the detail in the tb__errbuf or on the handle; details never hold
 * key material or personal data. Thread-safety: a keyring and a handle belong to one thread;
 * tb__c2_set_key_file is meant for main() before any thread starts. */
#ifndef TB_STORE_CRYPT_H
#define TB_STORE_CRYPT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"
#include "store/file.h"
#include "tagbase.h"

#define TB__C2_KEYBYTES  32
#define TB__C2_MAX_KEYS  64
#define TB__C2_BLIND_LEN 24 /* "#" + 22 base64url characters + NUL */
#define TB__C2_CHECK_LEN 33 /* 16 bytes as hex + NUL */

/* The columns (associated data) of the master data's C2 values. */
#define TB__C2_AD_ATTRS   "party.attrs"   /* the whole golden-record attribute string, sealed */
#define TB__C2_AD_CERT    "party.cert_no" /* blind index in cert_no, sealed value in cert_enc */
#define TB__C2_AD_NAME    "party.name"    /* blind index only (the value is inside attrs) */
#define TB__C2_AD_MOBILE  "party.mobile"  /* blind index only (the value is inside attrs) */
#define TB__C2_AD_HISTORY "party_history.value"   /* old_value and new_value, sealed */
#define TB__C2_AD_LEGAL   "party_relation.target" /* legal representative: blind + target_enc */

/* One data key: the two keys derived from a key file entry (crypto_kdf). */
typedef struct tb__c2key {
    uint32_t id;
    unsigned char enc[TB__C2_KEYBYTES];    /* XChaCha20-Poly1305 */
    unsigned char blind[TB__C2_KEYBYTES];  /* BLAKE2b blind indexes */
    unsigned char check[TB__C2_KEYBYTES];  /* the check value a data directory records */
    unsigned char stream[TB__C2_KEYBYTES]; /* sealed streams and whole sealed files */
    unsigned char record[TB__C2_KEYBYTES]; /* sealed records (the event log) */
} tb__c2key;

/* ---- the key file ------------------------------------------------------------------------------
 * A text file, mode 0600, outside every data directory:
 *     tagbase-keyfile 1
 *     key ID HEX64 CREATED          one line per usable key (ids grow, never reused)
 *     retired ID RETIRED_AT         a key rotated away: its bytes are gone, its id stays taken
 */
typedef struct tb__keyring tb__keyring;

/* Reads the key file at `path`: refuses one that group or others may read or write (TB_EPERM:
 * "chmod 600"), a malformed one (TB_EFORMAT, with the line), a missing one (TB_ENOENT). */
int tb__keyring_load(const char *path, tb__keyring **out, tb__errbuf *eb);

/* A new, empty keyring that will be saved at `path` (nothing is written yet). */
int tb__keyring_new(const char *path, tb__keyring **out, tb__errbuf *eb);

/* Adds a fresh random key with the next id; *id (may be NULL) is it. TB_ELIMIT when full. */
int tb__keyring_add(tb__keyring *k, uint32_t *id, tb__errbuf *eb);

/* Forgets the bytes of key `id` and records it as retired. TB_ENOENT if the file has no such key.
 */
int tb__keyring_retire(tb__keyring *k, uint32_t id, tb__errbuf *eb);

/* Writes the keyring to its path crash-safely (temp file 0600, fsync, rename, fsync dir). */
int tb__keyring_save(const tb__keyring *k, tb__errbuf *eb);

void tb__keyring_free(tb__keyring *k);

/* The derived keys of key `id` (borrowed from the ring), NULL when the file does not hold it. */
const tb__c2key *tb__keyring_get(const tb__keyring *k, uint32_t id);

/* The usable key with the highest id, NULL when none. */
const tb__c2key *tb__keyring_newest(const tb__keyring *k);

/* The i-th entry for listings: 0 and *id, *usable (1 key, 0 retired), *date (borrowed); TB_ENOENT
 * past the end. */
int tb__keyring_entry(const tb__keyring *k, size_t i, uint32_t *id, int *usable, const char **date);

/* The path the ring was loaded from or will be saved to. Borrowed. */
const char *tb__keyring_path(const tb__keyring *k);

/* TB_EINVAL when the key file `path` would lie inside data directory `dir` (both resolved through
 * symbolic links; a file that does not exist yet is judged by its directory): a copy of the data
 * directory must never carry its own key. */
int tb__c2_key_outside(const char *path, const char *dir, tb__errbuf *eb);

/* The key file opened with every data directory in this process: set by the command line
 * (--key-file); NULL falls back to $TAGBASE_KEY_FILE; "" means none. tb__c2_key_file returns
 * the one in effect, or NULL when none is configured. Static or environment storage. */
void tb__c2_set_key_file(const char *path);
const char *tb__c2_key_file(void);

/* ---- values with an explicit key (rotation, tests) --------------------------------------------*/

/* Derives the keys of entry `id` from its 32 key-file bytes. */
void tb__c2key_derive(tb__c2key *k, uint32_t id, const unsigned char master[TB__C2_KEYBYTES]);

/* The check value of a key as hex (what c2_key.check_value records). */
void tb__c2key_check(const tb__c2key *k, char out[TB__C2_CHECK_LEN]);

/* Seals n bytes of `plain` for column `ad` under `k`: appends the NUL-terminated text to `out`
 * (reset first). TB_ENOMEM. */
int tb__c2_seal_with(const tb__c2key *k, const char *ad, const char *plain, size_t n, tb__buf *out);

/* Opens a sealed text with the ring's key it names: `out` (reset first) holds the plaintext,
 * NUL-terminated. TB_ECORRUPT (not a sealed value, or it fails authentication: wrong column,
 * tampered bytes, wrong key bytes), TB_ENOENT (the ring lacks the key id it names), TB_ENOMEM. The
 * detail never holds the value. */
int tb__c2_open_with(const tb__keyring *ring, const tb__c2key *only, const char *ad,
                     const char *sealed, tb__buf *out, tb__errbuf *eb);

/* The blind index of a value for column `ad` under `k`. */
void tb__c2_blind_with(const tb__c2key *k, const char *ad, const char *v, size_t n,
                       char out[TB__C2_BLIND_LEN]);

/* ---- values on a data directory handle
 * ---------------------------------------------------------*/

/* 1 when the handle's data directory keeps C2 values encrypted (a key is recorded), else 0. */
int tb__c2_on(tb_db *db);

/* The active key of an encrypted handle (borrowed), NULL in plaintext mode. */
const tb__c2key *tb__c2_active(tb_db *db);

/* The handle's key file (borrowed), NULL when none was given. */
tb__keyring *tb__c2_ring(tb_db *db);

/* Binds value `v` of column `ad` to parameter `col`: NULL as NULL; sealed when encrypted, as is
 * otherwise. tb__c2_bind_blind binds its blind index instead (or the value in plaintext mode):
 * for the columns that equality look-ups use. TB_ENOMEM (detail on the handle). */
int tb__c2_bind_sealed(tb_db *db, sqlite3_stmt *st, int col, const char *ad, const char *v);
int tb__c2_bind_blind(tb_db *db, sqlite3_stmt *st, int col, const char *ad, const char *v);

/* Reveals a stored value of column `ad`: *plain is the plaintext (in `scratch` when it had to be
 * decrypted, else `stored` itself: borrowed either way) or NULL when stored is NULL. An empty
 * stored value stays empty. Errors as tb__c2_open_with, detail on the handle. */
int tb__c2_reveal(tb_db *db, const char *ad, const char *stored, tb__buf *scratch,
                  const char **plain);

/* Inside the caller's transaction: records `k` as the directory's active key (the previous one,
 * if any, becomes retired). Used by the first use of a key and by rotation; the handle switches
 * to `k` only when tb__c2_activate is called after the commit. */
int tb__c2_record_key(tb_db *db, const tb__c2key *k);
void tb__c2_activate(tb_db *db, const tb__c2key *k);

/* For tb_db_open (datadir.c), after the meta store is open: loads the key file in effect, checks
 * it against the keys the directory records, and adopts it on a writer's still-empty store.
 * TB_EPERM with a clear detail for an encrypted directory without its key file or with a wrong
 * one; the key file's own errors otherwise. */
int tb__c2_attach(tb_db *db);
void tb__c2_detach(tb_db *db);

/* State for `tagbase status` and `tagbase key status`. */
typedef struct tb__c2_info {
    int encrypted;      /* 1: C2 values are sealed */
    uint32_t key_id;    /* the active key (encrypted only) */
    int key_file_given; /* a key file is configured for this process */
    int pending;        /* a key file is given but the store is plaintext with data */
    int retired;        /* number of keys the directory used before (rotated away) */
} tb__c2_info;
int tb__c2_info_get(tb_db *db, tb__c2_info *out);

/* ---- sealed streams: whole files under a data key ------------------------------------------
 * For the files written once front to back and read front to back (business-data domain
 * segments, event partitions and checkpoints): libsodium's crypto_secretstream_xchacha20poly1305
 * under the data key's stream key (tb__c2key.stream: crypto_kdf of the key file's entry). The bytes
 * a sealer produces, after whatever clear preamble the file format has: header   "TBS1" | key id
 * (u32 LE) | secretstream header (24 bytes)       TB__C2_STREAM_HEADER chunks   ciphertext length
 * (u32 LE) | ciphertext (plaintext + 17 bytes) Every chunk is authenticated with the stream's
 * associated data (what the file is, and its clear preamble: a segment's flag line), the last chunk
 * carries TAG_FINAL and nothing may follow it: a file truncated, extended, with chunks reordered or
 * spliced from another file, under another key or with another preamble fails to open
 * (TB_ECORRUPT), and the detail never holds plaintext. A stream belongs to one thread; its state
 * holds no heap memory (nothing to free). */
#define TB__C2_STREAM_MAGIC     "TBS1"
#define TB__C2_STREAM_HEADER    32
#define TB__C2_STREAM_OVERHEAD  21                 /* per chunk: length + tag */
#define TB__C2_STREAM_MAX_CHUNK ((size_t)64 << 20) /* plaintext bytes per chunk, at most */
#define TB__C2_STREAM_AD_MAX    512

typedef struct tb__c2_stream {
    unsigned char state[64]; /* crypto_secretstream_xchacha20poly1305_state, opaque here */
    unsigned char ad[TB__C2_STREAM_AD_MAX];
    size_t adlen;
    uint32_t key_id;
    int final; /* the final chunk was sealed / opened */
} tb__c2_stream;

/* Starts sealing under `k` with associated data `ad` (adlen <= TB__C2_STREAM_AD_MAX: TB_EINVAL):
 * appends the header to `out`. */
int tb__c2_stream_seal_init(tb__c2_stream *s, const tb__c2key *k, const void *ad, size_t adlen,
                            tb__buf *out);
/* Appends one chunk sealing n bytes of `plain` (n <= TB__C2_STREAM_MAX_CHUNK), the final one when
 * `final`; TB_EINVAL after the final chunk, TB_ENOMEM. */
int tb__c2_stream_seal(tb__c2_stream *s, const void *plain, size_t n, int final, tb__buf *out);

/* 1 when `b` (n bytes) starts like a sealed stream's header. */
int tb__c2_stream_is(const void *b, size_t n);
/* Reads a header (TB__C2_STREAM_HEADER bytes) and starts opening with the ring's key it names:
 * TB_ENOENT when the ring is NULL or lacks that key (the detail names the key id), TB_ECORRUPT
 * for a bad header. `what` names the file in details. */
int tb__c2_stream_open_init(tb__c2_stream *s, const tb__keyring *ring, const void *ad, size_t adlen,
                            const unsigned char *header, const char *what, tb__errbuf *eb);
/* Opens one chunk's ciphertext (`n` bytes, without its length prefix) into `out` (reset first;
 * not NUL-terminated); *final is 1 for the final chunk. TB_ECORRUPT when it fails to
 * authenticate or comes after the final chunk. */
int tb__c2_stream_open(tb__c2_stream *s, const void *chunk, size_t n, tb__buf *out, int *final,
                       const char *what, tb__errbuf *eb);

/* A reader of a sealed stream stored in a file from byte `offset` on: reads the header, then
 * chunk after chunk. Created by tb__c2_sfile_open (caller frees with tb__c2_sfile_close). */
typedef struct tb__c2_sfile tb__c2_sfile;
int tb__c2_sfile_open(const char *path, uint64_t offset, const tb__keyring *ring, const void *ad,
                      size_t adlen, tb__c2_sfile **out, tb__errbuf *eb);
/* The next chunk's plaintext: 1 with *data, *n (borrowed until the next call), 0 after the final
 * chunk (TB_ECORRUPT instead when the file ends before it or has bytes after it), TB_EIO. */
int tb__c2_sfile_next(tb__c2_sfile *f, const void **data, size_t *n, tb__errbuf *eb);
/* The key id the file is sealed under. */
uint32_t tb__c2_sfile_key(const tb__c2_sfile *f);
void tb__c2_sfile_close(tb__c2_sfile *f);

/* ---- whole files sealed: for stores that map a file whole (profile snapshot columns, tag store
 * files). A sealed file is a sealed stream from byte 0 (chunks of TB__C2_FILE_CHUNK), so its
 * first bytes tell a sealed file from a clear one (tb__c2_stream_is) and its plaintext is the
 * exact bytes the clear file would hold: manifests keep the plaintext size and checksum, and a file
 * can be re-sealed under another key, or sealed for the first time, in place (crash-safely) without
 * touching its manifest. */
#define TB__C2_FILE_CHUNK ((size_t)4 << 20)

typedef struct tb__c2_swriter {
    tb__c2_stream s;
    tb__afile *af;
    tb__buf plain, cipher;
    uint64_t bytes; /* written to af so far */
} tb__c2_swriter;

/* Starts a sealed file on `af` (open, nothing written yet; borrowed until end/release) under `k`
 * with associated data `ad` (what the file is: a copy under another name does not open). */
int tb__c2_swriter_begin(tb__c2_swriter *w, tb__afile *af, const tb__c2key *k, const void *ad,
                         size_t adlen, tb__errbuf *eb);
/* Appends n bytes of plaintext (sealed and written a chunk at a time). */
int tb__c2_swriter_write(tb__c2_swriter *w, const void *p, size_t n, tb__errbuf *eb);
/* Seals and writes the final chunk and releases the buffers; the caller then commits af. */
int tb__c2_swriter_end(tb__c2_swriter *w, tb__errbuf *eb);
/* Releases the buffers (zeroed) after a failure; a no-op after end. */
void tb__c2_swriter_release(tb__c2_swriter *w);

/* Writes `path` crash-safely (temp, fsync, rename, fsync dir) holding n bytes of `data`, sealed
 * under `k` with `ad` when k is not NULL, as they are otherwise. */
int tb__c2_file_write(const char *path, const void *data, size_t n, mode_t mode, const tb__c2key *k,
                      const void *ad, size_t adlen, tb__errbuf *eb);

/* The id of the key the whole file at `path` is sealed under; 0 when it is clear (or cannot be
 * read: the caller's own open reports why). */
uint32_t tb__c2_file_key(const char *path);
/* The same for an open descriptor (read with pread: its position does not move). */
uint32_t tb__c2_fd_key(int fd);

/* The sealed image of p[0, n) under `k` with associated data `ad`, appended to `out`: a header and
 * chunks of at most `chunk_max` plaintext bytes (0: the largest), at least one (the final one),
 * so that an empty image still proves it is whole. TB_ENOMEM, TB_EINVAL (ad too long). */
int tb__c2_image_seal(const tb__c2key *k, const void *ad, size_t adlen, const void *p, size_t n,
                      size_t chunk_max, tb__buf *out);

/* When img[0, len) (untrusted bytes) is a sealed image: opens it into *out (caller frees with
 * free(); NUL-terminated, *outlen bytes before the NUL) and sets *key_id. When it is not (a clear
 * image): *out NULL, *key_id 0. TB_ECORRUPT (bad framing, a chunk failing authentication, cut or
 * extended: the detail names `name` and the byte offset), TB_ENOENT (the ring lacks the key, or no
 * ring), TB_ENOMEM. */
int tb__c2_image_open(const tb__keyring *ring, const void *ad, size_t adlen, const char *name,
                      const void *img, size_t len, char **out, size_t *outlen, uint32_t *key_id,
                      tb__errbuf *eb);

/* Reads a whole sealed file into memory: *out (caller frees with free(); 16-byte aligned) holds
 * its plaintext, *len bytes. TB_ECORRUPT above `max` plaintext bytes (the caller's manifest says
 * less); errors of tb__c2_sfile_open
 * and tb__c2_sfile_next (TB_ENOENT for a key the ring lacks, TB_ECORRUPT naming the file). */
int tb__c2_file_read(const char *path, const tb__keyring *ring, const void *ad, size_t adlen,
                     size_t max, void **out, size_t *len, tb__errbuf *eb);

/* ---- sealed records: one binary record under a data key ---------------------------------------
 * For append-only logs whose records are written one at a time and must stay addressable by
 * position (the event log): XChaCha20-Poly1305 (ietf) under the data key's record key
 * (tb__c2key.record: crypto_kdf of the key file's entry), a random nonce per record, and the
 * caller's associated data:
 *     key id (u32 LE) | nonce (24) | ciphertext (n bytes) | tag (16)      n + TB__C2_REC_OVERHEAD
 * Thread-safe (no state; the key is only read). */
#define TB__C2_REC_OVERHEAD 44

/* Seals plain[0, n) into out[0, n + TB__C2_REC_OVERHEAD) (caller's memory; must not overlap).
 * 0, or TB_EINVAL when libsodium cannot start (never once a key file is loaded). */
int tb__c2_rec_seal(const tb__c2key *k, const void *ad, size_t adlen, const void *plain, size_t n,
                    unsigned char *out);
/* Opens rec[0, n) into out[0, n - TB__C2_REC_OVERHEAD) with the ring's key it names (*key_id is
 * that id, 0 when rec is too short). TB_ECORRUPT: too short, or it fails authentication (tampered,
 * other associated data, another key's bytes); TB_ENOENT: the ring is NULL or lacks the key. The
 * caller writes the detail (file and offset); nothing here can leak plaintext. */
int tb__c2_rec_open(const tb__keyring *ring, const void *ad, size_t adlen, const unsigned char *rec,
                    size_t n, unsigned char *out, uint32_t *key_id);

#endif
