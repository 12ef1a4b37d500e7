/* fuzz_segment.c — libFuzzer target for the segment reader (src/pipeline/segment.c): arbitrary
 * bytes as a segment file (clear, or sealed under the target's key: the sealed-stream framing of
 * store/crypt_stream.c) are read to the end without crashing; what reads as valid rows must read
 * back the same after being written again with the segment writer, sealed for odd-sized inputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "pipeline/segment.h"
#include "store/crypt.h"
#include "tagbase.h"

/* A random key per input: enough to reach the sealed reader's framing and to round-trip sealed
 * rows (a fuzzer cannot forge a chunk that authenticates). The ring lives in sodium's guarded
 * memory, which the leak checker does not scan: it is freed after each input instead. */
static tb__keyring *ring;
static const tb__c2key *key;

static void keys(void)
{
    tb__errbuf eb = {0};
    uint32_t id;
    if (tb__keyring_new("/tmp/fuzz_segment.keys", &ring, &eb) || tb__keyring_add(ring, &id, &eb) ||
        !(key = tb__keyring_get(ring, id)))
        __builtin_trap();
}

/* A temp file holding `data`; its name in `path` (PATH_BUF bytes). -1 if it cannot be made. */
#define PATH_BUF 64
static int temp_file(char *path, const uint8_t *data, size_t size)
{
    snprintf(path, PATH_BUF, "/tmp/fuzz_segment-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            unlink(path);
            return -1;
        }
        off += (size_t)n;
    }
    close(fd);
    return 0;
}

/* Appends one row to `out` unambiguously (lengths first). */
static void dump_row(tb__buf *out, uint64_t line, uint32_t gid, const tb__field *f, size_t n)
{
    tb__buf_printf(out, "%llu:%u:%zu:", (unsigned long long)line, gid, n);
    for (size_t i = 0; i < n; i++) {
        if (f[i].ptr == NULL) __builtin_trap();
        if (f[i].is_null) {
            tb__buf_puts(out, "N;");
            continue;
        }
        tb__buf_printf(out, "%zu=", f[i].len);
        tb__buf_append(out, f[i].ptr, f[i].len); /* touches every byte: ASan checks the range */
        tb__buf_putc(out, ';');
    }
}

/* Reads the segment at `path` to its end: 1 when every row was read, 0 after an error, -1 when it
 * did not open. Rows go to `out`, and to `w` when not NULL. */
static int read_all(const char *path, tb__buf *out, tb__seg_writer **w, const char *wpath,
                    const tb__c2key *wkey)
{
    tb__errbuf eb = {0};
    tb__seg_reader *r = NULL;
    tb__seg_flag flag;
    int rc = tb__seg_reader_open(path, ring, &r, &flag, &eb);
    if (rc) {
        if (r != NULL || rc >= 0 || !eb.msg[0]) __builtin_trap();
        return -1;
    }
    if (!flag.business_type || !flag.kind || !flag.source_system || !flag.batch_date ||
        !flag.file || flag.load_id <= 0)
        __builtin_trap();
    tb__buf_printf(out, "load %lld\n", (long long)flag.load_id);
    if (w && tb__seg_writer_open(wpath, &flag, wkey, w, &eb) != 0) w = NULL;
    uint64_t line;
    uint32_t gid;
    const tb__field *f;
    size_t n;
    while ((rc = tb__seg_read(r, &line, &gid, &f, &n, &eb)) == 1) {
        dump_row(out, line, gid, f, n);
        if (w && *w && tb__seg_write(*w, line, gid, f, n, &eb) != 0) {
            tb__seg_writer_abort(*w);
            *w = NULL;
        }
    }
    if (rc < 0 && !eb.msg[0]) __builtin_trap();
    if (tb__seg_read(r, &line, &gid, &f, &n, &eb) != rc && rc == 0) __builtin_trap();
    tb__seg_reader_close(r);
    return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[PATH_BUF], wpath[PATH_BUF];
    if (temp_file(path, data, size) != 0) return 0;
    if (temp_file(wpath, NULL, 0) != 0) {
        unlink(path);
        return 0;
    }
    keys();
    tb__buf a = {0}, b = {0};
    tb__seg_writer *w = NULL;
    int ok = read_all(path, &a, &w, wpath, size % 2 ? key : NULL);
    if (ok == 1 && w) {
        tb__errbuf eb = {0};
        /* What the reader accepted, the writer writes so that it reads back the same. */
        if (tb__seg_writer_commit(w, &eb) == 0) {
            if (read_all(wpath, &b, NULL, NULL, NULL) != 1) __builtin_trap();
            if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) __builtin_trap();
        }
    } else {
        tb__seg_writer_abort(w);
    }
    tb__buf_release(&a);
    tb__buf_release(&b);
    unlink(path);
    unlink(wpath);
    tb__keyring_free(ring);
    ring = NULL;
    return 0;
}
