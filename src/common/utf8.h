/* utf8.h — UTF-8 well-formedness, decided in one place for every module that checks text (the
 * masking rules, the extract reader's optional record check).
 *
 * "Well-formed" is the Unicode definition (Unicode 15, Table 3-7; RFC 3629): a character is one to
 * four bytes, never an overlong form (C0, C1, E0 80..9F, F0 80..8F), never a UTF-16 surrogate
 * (ED A0..BF, U+D800..U+DFFF) and never above U+10FFFF (F4 90.., F5..FF). All bytes are borrowed,
 * read only within the explicit length, never retained; the functions are pure and thread-safe. */
#ifndef TB_COMMON_UTF8_H
#define TB_COMMON_UTF8_H

#include <stddef.h>

/* Returns the length (1..4) of the well-formed UTF-8 character that starts at s[0], reading at
 * most `len` bytes, or 0 when the bytes there do not start one: a continuation or invalid lead
 * byte, a bad second byte (overlong, surrogate, above U+10FFFF), a bad later continuation byte,
 * or a sequence cut short by `len` (including len == 0). A 0 result says nothing about the bytes
 * after s[0]: callers that skip bad input advance by one byte. */
size_t tb__utf8_char(const unsigned char *s, size_t len);

/* Checks that s[0, len) is a sequence of well-formed characters. Returns 0 when it is (an empty
 * range is), otherwise TB_EFORMAT with *bad_offset (when not NULL) set to the index of the first
 * byte that does not start a well-formed character. ASCII runs are checked eight bytes at a
 * time: this runs over every record of an extract when validation is on. */
int tb__utf8_validate(const unsigned char *s, size_t len, size_t *bad_offset);

#endif
