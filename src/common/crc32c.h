/* crc32c.h — CRC-32C (Castagnoli), the checksum of snapshot column files and manifests.
 *
 * The polynomial is 0x1EDC6F41 (reflected 0x82F63B78), the one iSCSI, ext4 and SSE4.2's crc32
 * instruction use, so a file's checksum can be checked with any standard tool. On x86-64 the
 * SSE4.2 instruction is used when the CPU has it (decided once, at run time); elsewhere a portable
 * slicing-by-8 table. Both give identical results. The functions read exactly `len` bytes of `p`
 * (borrowed, never retained), keep no mutable state and are thread-safe. */
#ifndef TB_COMMON_CRC32C_H
#define TB_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32C: pass 0 to start, then the previous result to append more bytes, so that
 * tb__crc32c(tb__crc32c(0, a, n), b, m) equals the CRC of a followed by b. `p` may be NULL when
 * len is 0. tb__crc32c(0, "123456789", 9) is 0xE3069283. */
uint32_t tb__crc32c(uint32_t crc, const void *p, size_t len);

/* The portable implementation alone, for tests that compare it with the hardware path. */
uint32_t tb__crc32c_sw(uint32_t crc, const void *p, size_t len);

/* 1 when tb__crc32c uses the CPU's crc32 instruction. */
int tb__crc32c_hw(void);

#endif
