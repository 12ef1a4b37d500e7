/* arena.c — bump allocation in chained blocks. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct tb__arena_block {
    tb__arena_block *next;
    size_t size; /* usable bytes in data[] */
    size_t off;  /* first free byte */
    _Alignas(max_align_t) unsigned char data[];
};

#define ALIGN (sizeof(max_align_t))

void tb__arena_init(tb__arena *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->used = 0;
}

static tb__arena_block *new_block(size_t size)
{
    if (size > SIZE_MAX - sizeof(tb__arena_block)) return NULL;
    tb__arena_block *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->off = 0;
    return b;
}

void *tb__arena_alloc(tb__arena *a, size_t n)
{
    if (n == 0) n = 1;
    if (n > SIZE_MAX - ALIGN) return NULL;
    size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
    tb__arena_block *b = a->head;
    if (!b || b->size - b->off < need) {
        /* Oversized requests get a block of their own behind the current one, so the current
         * block's free tail is not wasted. */
        if (need > a->block_size / 4 && b) {
            tb__arena_block *big = new_block(need);
            if (!big) return NULL;
            big->off = need;
            big->next = b->next;
            b->next = big;
            a->used += need;
            return big->data;
        }
        b = new_block(need > a->block_size ? need : a->block_size);
        if (!b) return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->off;
    b->off += need;
    a->used += need;
    return p;
}

void *tb__arena_calloc(tb__arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = tb__arena_alloc(a, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

char *tb__arena_strndup(tb__arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX) return NULL;
    char *p = tb__arena_alloc(a, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *tb__arena_strdup(tb__arena *a, const char *s)
{
    return tb__arena_strndup(a, s, strlen(s));
}

char *tb__arena_printf(tb__arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = NULL;
    if (n >= 0 && (p = tb__arena_alloc(a, (size_t)n + 1)) != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void tb__arena_reset(tb__arena *a)
{
    /* Keep one standard-sized block for reuse; oversized ones go back to malloc. */
    tb__arena_block *keep = NULL, *b = a->head;
    while (b) {
        tb__arena_block *next = b->next;
        if (!keep && b->size == a->block_size) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (keep) {
        keep->off = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->used = 0;
}

void tb__arena_release(tb__arena *a)
{
    tb__arena_block *b = a->head;
    while (b) {
        tb__arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}
