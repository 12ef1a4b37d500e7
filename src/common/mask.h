/* mask.h — masking of personal identifiers for logs, error details and (later) display.
 * The defaults follow the bank's rules: ID numbers first 6 + last 4, mobiles 138****5678,
 * names 张*, card numbers first 6 + last 4. Every function writes a NUL-terminated result into
 * `out` (at most `outlen` bytes, truncated) and returns `out`; input of any length and content is
 * safe (bytes are never echoed beyond what the rule shows). */
#ifndef TB_COMMON_MASK_H
#define TB_COMMON_MASK_H

#include <stddef.h>

/* Keeps the first `head` and last `tail` bytes, stars in between; shorter input is all stars. */
char *tb__mask_keep(const char *s, size_t len, size_t head, size_t tail, char *out, size_t outlen);

char *tb__mask_id(const char *s, size_t len, char *out, size_t outlen);     /* 110105********002X */
char *tb__mask_mobile(const char *s, size_t len, char *out, size_t outlen); /* 138****5678 */
char *tb__mask_card(const char *s, size_t len, char *out, size_t outlen);   /* 622848******1234 */

/* First UTF-8 character, then one '*' per remaining character: 张三丰 -> 张**. */
char *tb__mask_name(const char *s, size_t len, char *out, size_t outlen);

#endif
