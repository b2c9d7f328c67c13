/* test_replay.c -- per-token lengths of replay-log chunks: the o field's exact bytes, every
 * resume point of a chunk cut exactly, the fallback without o, and rejection of every
 * malformed o the parser promises to catch. */
#include "queue/replay.h"
#include "test.h"

#include <string.h>

static void test_encode_exact_bytes(void)
{
    struct buf b;
    buf_init(&b);
    replay_lens_append(&b, 4);
    replay_lens_append(&b, 0);
    replay_lens_append(&b, 123456789);
    CHECK_STR(b.data, b.len, "4,0,123456789");
    buf_reset(&b);
    replay_lens_append_record(&b, 1, 5);  /* one token, 5 bytes */
    replay_lens_append_record(&b, 3, 7);  /* two empty or held-back tokens, then 7 bytes */
    replay_lens_append_record(&b, 0, 99); /* nothing */
    replay_lens_append_record(&b, 2, 0);  /* (never sent by a worker, but well-defined) */
    CHECK_STR(b.data, b.len, "5,0,0,7,0,0");
    buf_deinit(&b);
}

/* Chunk i=10 n=4 t=" the cafébar!" with tokens " the" | "" | " caf\xc3\xa9bar" | "!" (4, 0, 9, 1
 * bytes) */
static const char text[] = " the caf\xc3\xa9"
                           "bar!";
#define TEXT_LEN (sizeof(text) - 1)

static struct replay_chunk chunk(const char *o)
{
    return (struct replay_chunk){10, 4, text, TEXT_LEN, o, o ? strlen(o) : 0};
}

static void test_cut_every_resume_point(void)
{
    struct replay_chunk c = chunk("4,0,9,1");
    CHECK_EQ(replay_lens_check(c.lens, c.lens_len, c.count, c.text_len, NULL), 0);
    struct replay_cut cut;
    struct err e = {0};
    /* next at or before the chunk: all of it */
    for (uint32_t next = 0; next <= 10; next++) {
        CHECK_EQ(replay_cut(&c, next, &cut, &e), 0);
        CHECK_EQ(cut.index, 10);
        CHECK_EQ(cut.count, 4);
        CHECK_EQ(cut.off, 0);
        CHECK_EQ(cut.len, TEXT_LEN);
        CHECK_EQ(cut.exact, 1);
    }
    /* inside: exactly the text of tokens >= next */
    static const size_t off_at[] = {0, 4, 4, 13}; /* offset of token 10 + k */
    for (uint32_t k = 1; k < 4; k++) {
        CHECK_EQ(replay_cut(&c, 10 + k, &cut, &e), 0);
        CHECK_EQ(cut.index, 10 + k);
        CHECK_EQ(cut.count, 4 - k);
        CHECK_EQ(cut.off, off_at[k]);
        CHECK_EQ(cut.len, TEXT_LEN - off_at[k]);
        CHECK_EQ(cut.exact, 1);
    }
    CHECK_EQ(replay_cut(&c, 12, &cut, &e), 0);
    CHECK_STR(text + cut.off, cut.len,
              " caf\xc3\xa9"
              "bar!");
    /* after: nothing */
    for (uint32_t next = 14; next < 20; next++) {
        CHECK_EQ(replay_cut(&c, next, &cut, &e), 0);
        CHECK_EQ(cut.count, 0);
        CHECK_EQ(cut.len, 0);
        CHECK_EQ(cut.index, 14);
    }
}

static void test_cut_without_lens_is_the_old_behaviour(void)
{
    struct replay_chunk c = chunk(NULL);
    struct replay_cut cut;
    struct err e = {0};
    CHECK_EQ(replay_cut(&c, 12, &cut, &e), 0);
    CHECK_EQ(cut.index, 12);
    CHECK_EQ(cut.count, 2);
    CHECK_EQ(cut.off, 0);
    CHECK_EQ(cut.len, TEXT_LEN);
    CHECK_EQ(cut.exact, 0);
    /* not straddling: exact even without o */
    CHECK_EQ(replay_cut(&c, 3, &cut, &e), 0);
    CHECK_EQ(cut.exact, 1);
    CHECK_EQ(replay_cut(&c, 14, &cut, &e), 0);
    CHECK_EQ(cut.exact, 1);
    CHECK_EQ(cut.count, 0);
}

static void test_bad_lens_fall_back_with_an_error(void)
{
    struct replay_chunk c = chunk("4,0,9"); /* 3 lengths for 4 tokens */
    struct replay_cut cut;
    struct err e = {0};
    CHECK_EQ(replay_cut(&c, 11, &cut, &e), LLMQ_EFORMAT);
    CHECK(strstr(e.msg, "3 lengths for n = 4") != NULL);
    CHECK_EQ(cut.index, 11);
    CHECK_EQ(cut.count, 3);
    CHECK_EQ(cut.off, 0);
    CHECK_EQ(cut.len, TEXT_LEN);
    CHECK_EQ(cut.exact, 0);
}

static void test_check_rejects(void)
{
    static const char *const bad[] = {
        "",                                 /* empty for n = 4 */
        "4,0,9",                            /* too few */
        "4,0,9,1,0",                        /* too many */
        "4,0,9,2",                          /* sum 15 > 14 */
        "4,0,8,1",                          /* sum 13 < 14 */
        "4,0,09,1",                         /* leading zero */
        "4,00,9,1",                         /* leading zero */
        "4,0,9,1,",                         /* trailing comma */
        ",4,0,9,1",                         /* leading comma */
        "4,,0,9,1",                         /* empty item */
        "4, 0,9,1",                         /* space */
        "4,0,+9,1",                         /* sign */
        "4,-0,9,1",                         /* sign */
        "4;0;9;1",                          /* separator */
        "4,0,9,1\n",                        /* trailing byte */
        "15,0,0,0",                         /* one length past the text */
        "99999999999999999999999999,0,0,0", /* overflow */
        "4,0,9,1\0",                        /* NUL (o_len counts it below) */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]) + (i == sizeof(bad) / sizeof(bad[0]) - 1);
        struct err e = {0};
        int rc = replay_lens_check(bad[i], len, 4, TEXT_LEN, &e);
        CHECK_EQ(rc, LLMQ_EFORMAT);
        if (rc != LLMQ_EFORMAT) fprintf(stderr, "accepted bad o #%zu: %s\n", i, bad[i]);
        CHECK(strncmp(e.msg, "o: ", 3) == 0);
    }
    CHECK_EQ(replay_lens_check("", 0, 0, 0, NULL), 0);
    CHECK_EQ(replay_lens_check("0", 1, 0, 0, NULL), LLMQ_EFORMAT);
    CHECK_EQ(replay_lens_check("0", 1, 1, 0, NULL), 0);
    CHECK_EQ(replay_lens_check("0,0", 3, 2, 0, NULL), 0);
    CHECK_EQ(replay_lens_check("14", 2, 1, TEXT_LEN, NULL), 0);
}

/* The worker's way of building a chunk from records, read back at every index. */
static void test_records_roundtrip(void)
{
    struct {
        uint32_t count;
        const char *text;
    } recs[] = {{1, " a"}, {3, "\xe2\x82\xac b"}, {1, " c"}, {2, "\n\nd"}, {1, ""}};
    struct buf t, o;
    buf_init(&t);
    buf_init(&o);
    uint32_t n = 0;
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        buf_append_str(&t, recs[i].text);
        replay_lens_append_record(&o, recs[i].count, strlen(recs[i].text));
        n += recs[i].count;
    }
    CHECK_STR(o.data, o.len, "2,0,0,5,2,0,3,0");
    struct replay_chunk c = {100, n, t.data, t.len, o.data, o.len};
    CHECK_EQ(replay_lens_check(o.data, o.len, n, t.len, NULL), 0);
    /* At each record boundary the cut is the rest of the records' text. */
    uint32_t idx = 100;
    size_t off = 0;
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        struct replay_cut cut;
        CHECK_EQ(replay_cut(&c, idx, &cut, NULL), 0);
        CHECK_EQ(cut.off, off);
        CHECK_EQ(cut.len, t.len - off);
        CHECK_EQ(cut.index, idx);
        CHECK_EQ(cut.count, 100 + n - idx);
        /* inside a record: its text belongs to its last token, so all of it is still due */
        for (uint32_t k = 1; k < recs[i].count; k++) {
            CHECK_EQ(replay_cut(&c, idx + k, &cut, NULL), 0);
            CHECK_EQ(cut.off, off);
        }
        idx += recs[i].count;
        off += strlen(recs[i].text);
    }
    buf_deinit(&t);
    buf_deinit(&o);
}

int main(void)
{
    TEST_RUN(test_encode_exact_bytes);
    TEST_RUN(test_cut_every_resume_point);
    TEST_RUN(test_cut_without_lens_is_the_old_behaviour);
    TEST_RUN(test_bad_lens_fall_back_with_an_error);
    TEST_RUN(test_check_rejects);
    TEST_RUN(test_records_roundtrip);
    TEST_MAIN_END();
}
