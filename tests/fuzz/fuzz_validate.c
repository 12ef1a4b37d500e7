/* fuzz_validate.c — libFuzzer target for src/common/validate.c: the validators on arbitrary bytes
 * with explicit lengths (no NUL terminator), cross-checked against the check-digit helpers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tagbase.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy without a terminating NUL: any read past `size` is caught by ASan. */
    char *s = malloc(size ? size : 1);
    if (!s) return 0;
    if (size) memcpy(s, data, size);

    int id = tb_valid_resident_id(s, size);
    int uscc = tb_valid_uscc(s, size);
    int mob = tb_valid_mobile(s, size);
    int luhn = tb_valid_luhn(s, size);
    if (tb_valid_resident_id(NULL, 0) || tb_valid_uscc(NULL, 0)) __builtin_trap();

    if (id) {
        if (size != 18) __builtin_trap();
        char c = tb_resident_id_check(s);
        if (c == 0 || (c != s[17] && !(c == 'X' && s[17] == 'x'))) __builtin_trap();
    }
    if (uscc && (size != 18 || tb_uscc_check(s) != s[17])) __builtin_trap();
    if (mob && (size != 11 || s[0] != '1')) __builtin_trap();
    if (luhn && (size < 12 || size > 19 || tb_luhn_check(s, size - 1) != s[size - 1]))
        __builtin_trap();
    if (size >= 1) {
        char c = tb_luhn_check(s, size - 1);
        if (c != 0 && (c < '0' || c > '9')) __builtin_trap();
    }

    /* The check helpers read a fixed 17 characters: give them exactly 17 (they stop at NUL). */
    if (size >= 17) {
        char c = tb_resident_id_check(s);
        if (c != 0 && !((c >= '0' && c <= '9') || c == 'X')) __builtin_trap();
        tb_uscc_check(s);
    }
    if (size >= 4) {
        int d;
        memcpy(&d, s, sizeof d);
        if (tb_valid_date(d) && (d < 19000101 || d > 21991231)) __builtin_trap();
    }
    free(s);
    return 0;
}
