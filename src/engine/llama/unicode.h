/* unicode.h -- the few Unicode facts the tokenizers need: UTF-8 decoding that never fails
 * (bad bytes become U+FFFD, exactly as llama.cpp does so token ids match), the general
 * category of a code point (from a generated run table, unicode_data.c), the whitespace set
 * of the pre-tokenizer regexes, and GPT-2's byte <-> printable code point mapping.
 * No normalization, no case mapping beyond ASCII: no tokenizer here needs them. */
#ifndef LLMQ_UNICODE_H
#define LLMQ_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum unicode_cat {            /* general category, first letter (Cn apart) */
    UNICODE_CAT_UNDEFINED = 0, UNICODE_CAT_NUMBER = 1, UNICODE_CAT_LETTER = 2,
    UNICODE_CAT_SEPARATOR = 3, UNICODE_CAT_MARK = 4, UNICODE_CAT_PUNCT = 5,
    UNICODE_CAT_SYMBOL = 6, UNICODE_CAT_CONTROL = 7,
    UNICODE_CAT_NONE = 8,     /* beyond U+10FFFF (a 4-byte sequence can decode there) */
};

/* Decodes one code point at s[*pos] (n bytes in s) and advances *pos. A byte that does not
 * start a complete sequence yields U+FFFD and advances by one. Never reads past n. */
uint32_t unicode_next(const char *s, size_t n, size_t *pos);
/* Encodes cp (<= 0x1FFFFF) as UTF-8 into out (4 bytes room); returns the length. */
int unicode_put(uint32_t cp, char *out);
/* Length of the UTF-8 sequence a lead byte announces (1 for continuation bytes), as SPM and
 * BPE symbol splitting use it. */
int unicode_len_utf8(uint8_t lead);

enum unicode_cat unicode_cat(uint32_t cp);
int unicode_is_space(uint32_t cp);       /* the regex \s set: \t-\r, space, U+85, U+A0, ... */

/* GPT-2 byte-level BPE: every byte maps to one printable code point and back. */
uint32_t unicode_byte_to_cp(uint8_t b);
int unicode_cp_to_byte(uint32_t cp);     /* -1 when cp is not one of the 256 */

/* Generated table (unicode_data.c): runs sorted by start, each (start << 4) | category. */
extern const uint32_t unicode_cat_runs[];
extern const size_t unicode_cat_runs_len;

#endif
