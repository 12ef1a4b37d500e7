/* tagstore.h — the tag store: the computed tags of one snapshot (one batch date), immutable,
 * memory-mapped. One directory per build (tags/<batch>-<build_id>/) holding one file per tag with
 * its bitmaps (one per value for boolean and enum tags) or its bit-sliced index (numbers, dates),
 * the universe bitmap (the live customers: gids not merged away), and manifest.json, written last
 * (the commit point), with each file's size and CRC-32C, each tag's metadata (names, value type,
 * class, level, sources, version) and where each bitmap lies in its file. docs/tags.md, "Tag
 * store", has the layout.
 *
 * Ownership: a writer is created by tb__tagw_open and released by exactly one of tb__tagw_commit
 * or tb__tagw_abort. Builders passed to put calls are borrowed (serialised before the call
 * returns). A tb__tagset is created by tb__tagset_open (caller frees with tb__tagset_close);
 * everything it hands out is borrowed from it until then.
 * Thread-safety: a writer belongs to one thread; an open tagset is immutable and may be read by
 * any number of threads.
 * Errors: 0 or negative TB_E*, detail in the tb__errbuf: TB_ECORRUPT (a file or the manifest fails
 * its checks: the detail names the file and byte offset), TB_ENOENT, TB_EIO, TB_ENOMEM, TB_EINVAL.
 */
#ifndef TB_TAGS_TAGSTORE_H
#define TB_TAGS_TAGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store/crypt.h"
#include "tags/bitmap.h"
#include "tags/catalog.h"

#define TB__TAGSTORE_FORMAT       1
#define TB__TAGSTORE_MANIFEST_MAX ((size_t)64 << 20)

/* What the store keeps about a tag besides its values. All strings borrowed. */
typedef struct tb__tag_meta {
    const char *code, *name_zh, *name_en;
    tb__tag_type type;
    tb__tag_vtype vtype;
    int scale;
    int version;
    const char *pi_class;
    int security_level;
    const char *sources_json; /* JSON array text of "business_type.field" items, or NULL */
} tb__tag_meta;

/* ---- writing ---------------------------------------------------------------------------------*/
typedef struct tb__tagw tb__tagw;

/* Creates directory `dir` (must not exist; its parent must) for tags over nrows gids. */
int tb__tagw_open(const char *dir, uint64_t nrows, tb__tagw **out, tb__errbuf *eb);
/* From now on, the files of tags classed C2 (pi_class "C2") are written sealed under `key`
 * (borrowed for the writer's life; NULL: clear): a sealed stream (crypt.h, "whole files sealed")
 * of exactly the bytes the clear file would hold, the manifest keeping the plaintext's size and
 * checksum. Call it right after open. */
void tb__tagw_seal(tb__tagw *w, const tb__c2key *key);
/* The live customers: NOT is the complement within this set. Required before commit. */
int tb__tagw_put_universe(tb__tagw *w, const tb__bm_builder *live, tb__errbuf *eb);
/* A boolean or enum tag: value i is `values[i]` with the ids in bms[i] (disjoint). Boolean tags
 * pass "true" and "false". */
int tb__tagw_put_values(tb__tagw *w, const tb__tag_meta *m, const char *const *values,
                        tb__bm_builder *const *bms, size_t nvalues, tb__errbuf *eb);
/* A numeric or date tag. */
int tb__tagw_put_bsi(tb__tagw *w, const tb__tag_meta *m, const tb__bsi_builder *b, tb__errbuf *eb);
/* Customer numbers by gid (for exports, samples and look-ups at memory speed): key i is
 * blob[offs[i], offs[i+1]); an empty range is a customer without one. offs has n + 1 entries,
 * non-decreasing, n = the store's nrows. Optional. */
int tb__tagw_put_keys(tb__tagw *w, const char *blob, const uint64_t *offs, tb__errbuf *eb);
/* Writes manifest.json (with `meta_json`, an object of build facts, or NULL) and fsyncs; frees w
 * whatever the result; on failure removes the directory. *bytes (may be NULL): total bytes. */
int tb__tagw_commit(tb__tagw *w, const char *meta_json, uint64_t *bytes, tb__errbuf *eb);
void tb__tagw_abort(tb__tagw *w);

/* ---- reading ---------------------------------------------------------------------------------*/
typedef struct tb__tagset tb__tagset;

/* One tag of an open store. */
typedef struct tb__tagv {
    tb__tag_meta m;
    size_t nvalues;            /* boolean/enum: values and their bitmaps; numeric: 0 */
    const char *const *values; /* NUL-terminated */
    const tb__bmv *bm;
    const tb__bsiv *bsi; /* numeric/date: the index; else NULL */
    uint64_t coverage;   /* customers with a value */
} tb__tagv;

/* Opens the store in `dir`: reads and checks the manifest, maps every file, parses every bitmap
 * (structure checked, checksums not: see tb__tagset_verify). */
int tb__tagset_open(const char *dir, tb__tagset **out, tb__errbuf *eb);
/* The same, reading sealed files (their plaintext, in memory, zeroed at close) with the keys of
 * `ring` (borrowed for the call). A sealed file without its key: TB_ENOENT naming the key id. */
int tb__tagset_open_keys(const char *dir, const tb__keyring *ring, tb__tagset **out,
                         tb__errbuf *eb);
void tb__tagset_close(tb__tagset *ts);

uint64_t tb__tagset_nrows(const tb__tagset *ts);
const char *tb__tagset_dir(const tb__tagset *ts);
const char *tb__tagset_meta_json(const tb__tagset *ts); /* the build facts object, or NULL */
const tb__bmv *tb__tagset_universe(const tb__tagset *ts);
size_t tb__tagset_ntags(const tb__tagset *ts);
const tb__tagv *tb__tagset_tag_at(const tb__tagset *ts, size_t i);
/* By code (exact), then by Chinese or English name (exact; ASCII case-insensitive). NULL if none.
 */
const tb__tagv *tb__tagset_find(const tb__tagset *ts, const char *code_or_name);
/* The value of tag t for customer id: 0 when it has none; 1 with *num (the stored integer: scaled
 * decimal, days for dates) for numeric and date tags; 2 with *str (the value, NUL-terminated) for
 * boolean and enum tags. One bit test per value, or one read per bit slice. */
int tb__tagv_get(const tb__tagv *t, uint64_t id, int64_t *num, const char **str);

/* The index of value `s` of a boolean/enum tag, or -1. */
int tb__tagv_value_index(const tb__tagv *t, const char *s, size_t len);

/* The customer number of `id` (not NUL-terminated; *len bytes), or NULL when the store has none
 * for it. */
const char *tb__tagset_key(const tb__tagset *ts, uint64_t id, size_t *len);

/* Reads every byte: each file's CRC-32C against the manifest and every bitmap's own checksum. */
int tb__tagset_verify(const tb__tagset *ts, tb__errbuf *eb);

/* Erasure: writes a new store in `dst` (must not exist) that is the store in `src` without the
 * customers gids[0..n) (any order): cleared from every value bitmap, every bit-sliced index and
 * the universe, their customer numbers removed from keys.bin; counts, coverage, sizes, checksums
 * and the manifest are those of the new bytes, the build facts (meta) are kept. `src` is
 * verified first (TB_ECORRUPT: nothing is written) and left as it is. Crash-safe like a build
 * (the manifest last); on failure `dst` is removed. Sealed files of `src` open with `ring`; C2
 * tags are sealed under `key` when it is not NULL. */
int tb__tagset_rewrite_without(const char *src, const char *dst, const uint32_t *gids, size_t n,
                               const tb__keyring *ring, const tb__c2key *key, tb__errbuf *eb);

/* Key rotation and the first encryption of a plaintext store: the file of every C2 tag of the
 * store in `dir` not yet sealed under `to` is rewritten sealed under it, in place and crash-safely
 * (its plaintext, hence the manifest, does not change); `ring` opens the current files. *files
 * (may be NULL) is increased by the number rewritten. The store is verified first. */
int tb__tagset_c2_reseal(const char *dir, const tb__keyring *ring, const tb__c2key *to,
                         uint64_t *files, tb__errbuf *eb);

#endif
