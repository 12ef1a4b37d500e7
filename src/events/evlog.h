/* evlog.h — the collector's append-only event log: segment files of records, each record a length,
 * a CRC-32C and a payload, made durable by group commit (one fsync for every record appended
 * while the previous fsync ran) before anyone is told a record is stored.
 *
 * Layout (docs/events.md, "The event log"): <dir>/<segno:%08u>.log; a segment opens with a 16-byte
 * header "TBEVLOG1", u32 version 1, u32 segno (little-endian) and then holds records
 *   u32 payload length (1 .. TB__EVLOG_MAX_RECORD) | u32 CRC-32C of the payload | payload.
 * A position is (segno, byte offset of a record in that segment).
 *
 * Sealed records (a log opened with a sealing key: the data directory is encrypted): the length
 * word has bit 31 set (TB__EVLOG_SEALED) and the payload is the record sealed on its own with
 * tb__c2_rec_seal (key id | nonce | ciphertext | tag, 44 bytes more than the record; associated
 * data "tagbase events log record"). The CRC covers the stored (sealed) bytes, so a torn tail is
 * found and cut exactly as before; a record whose CRC holds but that fails authentication was
 * tampered with or sealed under other key bytes, never torn: it is TB_ECORRUPT wherever it is
 * (not cut), with the segment and byte, like a checksum failure in the middle of the log. Records
 * are opened only when they are handed to a callback (replay, scan, verify); callbacks always get
 * the clear record. Clear and sealed records may share a segment (a store encrypted since).

 *
 * Crash contract: a record whose completion callback said 0 survives kill -9 and power loss. A
 * crash may leave a torn record at the end of the newest segment; tb__evlog_open cuts it (and
 * anything after it) and says how many bytes it cut. A bad record anywhere else is corruption:
 * open fails with TB_ECORRUPT naming the segment and offset, and nothing is changed.
 *
 * Thread-safety: tb__evlog_append may be called from any number of threads; completion callbacks
 * run on the log's own committer thread, in append order, and must not call back into the log. */
#ifndef TB_EVENTS_EVLOG_H
#define TB_EVENTS_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "events/evcrypt.h"

#define TB__EVLOG_MAX_RECORD (64u << 20) /* a record's payload is at most 64 MiB */
#define TB__EVLOG_SEALED     0x80000000u /* in the length word: the payload is sealed */
#define TB__EVLOG_AD         "tagbase events log record" /* associated data of sealed records */

typedef struct tb__evlog tb__evlog;

typedef struct tb__evpos {
    uint32_t seg; /* segment number (1-based; 0 means "before everything") */
    uint64_t off; /* offset of the record in the segment */
} tb__evpos;

/* Called by tb__evlog_open for every valid record at or after `from`, in log order. The payload
 * is borrowed for the call. A non-zero return stops the scan and open returns it. */
typedef int (*tb__evlog_replay_fn)(void *arg, tb__evpos pos, const uint8_t *p, size_t n);

/* Called once per appended record after it is durable (rc 0) or failed (rc < 0). */
typedef void (*tb__evlog_done_fn)(void *arg, int rc);

/* Opens (creating `dir` if needed) the log: checks every segment, cuts a torn tail of the newest
 * one, replays records from `from` through `fn` (may be NULL), and starts the committer thread.
 * Segments roll over after `seg_bytes` (0: 64 MiB). `keys` (may be NULL; the key is copied, the
 * ring borrowed until close): appends are sealed under keys->seal when there is one, sealed
 * records are opened with keys->ring. Caller frees with tb__evlog_close. Errors: TB_EIO,
 * TB_ECORRUPT, TB_EVERSION (a segment of a format version this build does not read), TB_ENOMEM,
 * TB_ENOENT (a sealed record needs a key the ring lacks), or what `fn` returned. */
int tb__evlog_open(const char *dir, uint64_t seg_bytes, const tb__evkeys *keys, tb__evpos from,
                   tb__evlog_replay_fn fn, void *arg, tb__evlog **out, tb__errbuf *eb);

/* Queues a copy of p[0..n) (sealed first, by the calling thread, when the log seals) and returns at
 * once with its position in *pos (may be NULL); `done` (may be NULL) is called when it is durable.
 * Returns 0, TB_EINVAL (n is 0 or too large), TB_ENOMEM, or TB_EIO when the log has failed (a write
 * or fsync error: nothing more is accepted until it is reopened). On an error return `done` is
 * never called. */
int tb__evlog_append(tb__evlog *l, const void *p, size_t n, tb__evlog_done_fn done, void *arg,
                     tb__evpos *pos);

/* Appends and waits until the record is durable. Returns 0 or a TB_E… code. */
int tb__evlog_append_sync(tb__evlog *l, const void *p, size_t n, tb__evpos *pos);

/* Waits until everything appended so far is durable (or failed). Returns 0 or TB_EIO. */
int tb__evlog_flush(tb__evlog *l);

/* The position just past the last record appended (where the next one goes). */
tb__evpos tb__evlog_end(tb__evlog *l);

/* Bytes cut from a torn tail at open (0 when the log was clean). */
uint64_t tb__evlog_cut_bytes(const tb__evlog *l);

/* Statistics: records and fsyncs since open. */
void tb__evlog_stats(tb__evlog *l, uint64_t *records, uint64_t *syncs);

/* Waits until everything appended is durable, then starts a new segment (durably), so that every
 * record so far is in older segments that tb__evlog_trim can remove (erasure). No-op on an empty
 * newest segment. */
int tb__evlog_roll(tb__evlog *l, tb__errbuf *eb);

/* Removes segments that end before `before` (a whole segment, never the open one). */
int tb__evlog_trim(tb__evlog *l, tb__evpos before, tb__errbuf *eb);

/* Reads the records in [from, to) without opening the log for writing (compaction, checks);
 * same checks and errors as open, but nothing is cut or changed: a torn tail ends the scan.
 * Sealed records are opened with `ring` (borrowed; may be NULL when none are expected). */
int tb__evlog_scan(const char *dir, const tb__keyring *ring, tb__evpos from, tb__evpos to,
                   tb__evlog_replay_fn fn, void *arg, tb__errbuf *eb);

/* Like tb__evlog_scan over the whole log, but strict: a torn tail is reported as TB_ECORRUPT
 * too (tagbase check: after a crash, the next open would cut it). */
int tb__evlog_verify(const char *dir, const tb__keyring *ring, tb__evlog_replay_fn fn, void *arg,
                     tb__errbuf *eb);

/* Key rotation: rewrites (temp, fsync, rename) every segment under `dir` that holds a clear
 * record or one sealed under another key than `to`, with each record sealed under `to` (opened
 * with `ring` first). Not while the log is open. Offsets of sealed records do not move; those of
 * clear ones do (44 bytes more each), so the caller moves every position out of such segments
 * first (tb__events_c2_reseal compacts the log). *files is incremented per segment rewritten.
 * TB_ECORRUPT for any bad record (the detail names segment and byte), TB_EVERSION for a segment
 * of a format version this build does not read (nothing is rewritten), TB_ENOENT, TB_EIO. */
int tb__evlog_reseal(const char *dir, const tb__keyring *ring, const tb__c2key *to, uint64_t *files,
                     tb__errbuf *eb);

/* Flushes what is queued, stops the committer, closes the files. NULL is a no-op. */
void tb__evlog_close(tb__evlog *l);

#endif
