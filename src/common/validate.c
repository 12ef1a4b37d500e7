/* validate.c — check digits and formats of the Chinese identity standards (GB 11643, GB 32100),
 * bank cards (Luhn), mainland mobiles and calendar dates. Used by the generator to make valid data
 * and by data quality to judge it. */
#include <string.h>

#include "tagbase.h"

int tb_valid_date(int d)
{
    int y = d / 10000, m = d / 100 % 100, day = d % 100;
    if (d < 19000101 || y > 2199 || m < 1 || m > 12 || day < 1) return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int max = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
    return day <= max;
}

char tb_resident_id_check(const char *d)
{
    static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char map[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (d[i] < '0' || d[i] > '9') return 0;
        sum += (d[i] - '0') * w[i];
    }
    return map[sum % 11];
}

int tb_valid_resident_id(const char *s, size_t len)
{
    if (!s || len != 18) return 0;
    for (int i = 0; i < 17; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    if (s[0] == '0') return 0; /* region codes start at 11 */
    int birth = 0;
    for (int i = 6; i < 14; i++)
        birth = birth * 10 + (s[i] - '0');
    if (!tb_valid_date(birth)) return 0;
    char c = tb_resident_id_check(s);
    char last = s[17] == 'x' ? 'X' : s[17];
    return c == last;
}

/* GB 32100 charset: digits and capitals except I, O, S, V, Z; value = index. */
static int uscc_value(char c)
{
    static const char set[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    if (c == '\0') return -1;
    const char *p = strchr(set, c);
    return p ? (int)(p - set) : -1;
}

char tb_uscc_check(const char *s)
{
    static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    static const char set[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        int v = uscc_value(s[i]);
        if (v < 0) return 0;
        sum += v * w[i];
    }
    int c = 31 - sum % 31;
    if (c == 31) c = 0;
    return set[c];
}

int tb_valid_uscc(const char *s, size_t len)
{
    if (!s || len != 18) return 0;
    for (int i = 0; i < 18; i++)
        if (uscc_value(s[i]) < 0) return 0;
    return tb_uscc_check(s) == s[17];
}

int tb_valid_mobile(const char *s, size_t len)
{
    if (!s || len != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9') return 0;
    for (int i = 2; i < 11; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

char tb_luhn_check(const char *s, size_t len)
{
    /* The digit appended goes at position 0 from the right, so the rightmost existing digit is
     * doubled. */
    int sum = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[len - 1 - i];
        if (c < '0' || c > '9') return 0;
        int v = c - '0';
        if (i % 2 == 0) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        sum += v;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

int tb_valid_luhn(const char *s, size_t len)
{
    if (!s || len < 12 || len > 19) return 0;
    char c = tb_luhn_check(s, len - 1);
    return c != 0 && c == s[len - 1];
}
