/* unicode.c -- UTF-8 decoding, category lookup and the GPT-2 byte mapping (see unicode.h).
 * Decoding deliberately mirrors llama.cpp's lenient decoder (no overlong or surrogate
 * checks) because token ids must match its output byte for byte. */
#include "engine/llama/unicode.h"

int unicode_len_utf8(uint8_t lead)
{
    static const uint8_t lens[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return lens[lead >> 4];
}

uint32_t unicode_next(const char *s, size_t n, size_t *pos)
{
    const uint8_t *p = (const uint8_t *)s + *pos;
    size_t left = n - *pos;
    uint8_t c = p[0];
    if (!(c & 0x80)) { *pos += 1; return c; }
    if (!(c & 0x40)) goto bad;                               /* stray continuation byte */
    if (!(c & 0x20)) {
        if (left < 2 || (p[1] & 0xC0) != 0x80) goto bad;
        *pos += 2;
        return (uint32_t)(c & 0x1F) << 6 | (p[1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) goto bad;
        *pos += 3;
        return (uint32_t)(c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            goto bad;
        *pos += 4;
        return (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
               (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    }
bad:
    *pos += 1;
    return 0xFFFD;
}

int unicode_put(uint32_t cp, char *out)
{
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | cp >> 6); o[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12); o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18 & 0x07)); o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

enum unicode_cat unicode_cat(uint32_t cp)
{
    if (cp > 0x10FFFF) return UNICODE_CAT_NONE;
    size_t lo = 0, hi = unicode_cat_runs_len;      /* last run whose start <= cp */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if ((unicode_cat_runs[mid] >> 4) <= cp) lo = mid;
        else hi = mid;
    }
    return (enum unicode_cat)(unicode_cat_runs[lo] & 15);
}

int unicode_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes
 * to U+0100.. in byte order. */
static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t unicode_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++) n += !byte_is_printable(i);
    return 0x100 + n;
}

int unicode_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    uint32_t n = 0;
    for (unsigned b = 0; b < 256; b++)
        if (!byte_is_printable(b) && n++ == cp - 0x100) return (int)b;
    return -1;
}
