/* test_stop.c -- stop strings with hold-back: text is released as soon as it cannot start a
 * stop string, held while it might, and cut exactly before the first stop string. */
#include "worker/stop.h"
#include "test.h"

/* Feeds pieces one by one; returns the index of the piece that hit a stop (or -1) and the
 * released text in out, and records what was released after each piece in steps. */
static int run(const char *const *stops, int n_stops, const char *const *pieces, struct buf *out,
               char steps[][64])
{
    struct stop s;
    stop_init(&s, stops, n_stops);
    int hit = -1;
    for (int i = 0; pieces[i]; i++) {
        size_t before = out->len;
        if (stop_feed(&s, pieces[i], strlen(pieces[i]), out)) {
            hit = i;
            if (steps) snprintf(steps[i], 64, "%.*s", (int)(out->len - before), out->data + before);
            break;
        }
        if (steps)
            snprintf(steps[i], 64, "%.*s", (int)(out->len - before),
                     out->data ? out->data + before : "");
    }
    if (hit < 0) stop_flush(&s, out);
    stop_deinit(&s);
    return hit;
}

static void test_no_stops_passes_through(void)
{
    struct buf out;
    buf_init(&out);
    CHECK_EQ(run(NULL, 0, (const char *[]){" a", " b", NULL}, &out, NULL), -1);
    CHECK_STR(out.data, out.len, " a b");
    buf_deinit(&out);
}

static void test_match_inside_one_piece(void)
{
    const char *stops[] = {"END"};
    struct buf out;
    buf_init(&out);
    CHECK_EQ(run(stops, 1, (const char *[]){"hello", " wENDx", " more", NULL}, &out, NULL), 1);
    CHECK_STR(out.data, out.len, "hello w");
    buf_deinit(&out);
}

static void test_match_across_pieces_holds_back(void)
{
    const char *stops[] = {"\n\n"};
    char steps[8][64] = {{0}};
    struct buf out;
    buf_init(&out);
    CHECK_EQ(run(stops, 1, (const char *[]){"one\n", "\nafter", NULL}, &out, steps), 1);
    CHECK_STR(steps[0], strlen(steps[0]), "one"); /* "\n" held: it may start "\n\n" */
    CHECK_STR(out.data, out.len, "one");
    buf_deinit(&out);
}

static void test_false_start_is_released(void)
{
    const char *stops[] = {"STOP"};
    char steps[8][64] = {{0}};
    struct buf out;
    buf_init(&out);
    CHECK_EQ(run(stops, 1, (const char *[]){"a ST", "AR", "T", NULL}, &out, steps), -1);
    CHECK_STR(steps[0], strlen(steps[0]), "a ");   /* "ST" held */
    CHECK_STR(steps[1], strlen(steps[1]), "STAR"); /* "STAR" cannot start STOP */
    CHECK_STR(out.data, out.len, "a START");
    buf_deinit(&out);
}

static void test_held_text_flushed_at_end(void)
{
    const char *stops[] = {"xyz"};
    struct buf out;
    buf_init(&out);
    CHECK_EQ(run(stops, 1, (const char *[]){"abc", "xy", NULL}, &out, NULL), -1);
    CHECK_STR(out.data, out.len, "abcxy");
    buf_deinit(&out);
}

static void test_earliest_of_several_wins(void)
{
    const char *stops[] = {"world", "lo w"};
    struct buf out;
    buf_init(&out);
    CHECK_EQ(run(stops, 2, (const char *[]){"hel", "lo", " wor", "ld", NULL}, &out, NULL), 2);
    CHECK_STR(out.data, out.len, "hel");
    buf_deinit(&out);
}

static void test_stop_at_very_start_and_overlap(void)
{
    const char *stops[] = {"aab"};
    struct buf out;
    buf_init(&out);
    /* "aaab": the held "aa" must not hide the match that starts one byte later */
    CHECK_EQ(run(stops, 1, (const char *[]){"a", "a", "a", "b", NULL}, &out, NULL), 3);
    CHECK_STR(out.data, out.len, "a");
    buf_reset(&out);
    CHECK_EQ(run(stops, 1, (const char *[]){"aab", NULL}, &out, NULL), 0);
    CHECK_EQ(out.len, 0);
    buf_deinit(&out);
}

static void test_utf8_stop(void)
{
    const char *stops[] = {"\xc3\xa9t\xc3\xa9"}; /* "été" */
    struct buf out;
    buf_init(&out);
    CHECK_EQ(
        run(stops, 1, (const char *[]){"un \xc3\xa9", "t", "\xc3\xa9 chaud", NULL}, &out, NULL), 2);
    CHECK_STR(out.data, out.len, "un ");
    buf_deinit(&out);
}

int main(void)
{
    TEST_RUN(test_no_stops_passes_through);
    TEST_RUN(test_match_inside_one_piece);
    TEST_RUN(test_match_across_pieces_holds_back);
    TEST_RUN(test_false_start_is_released);
    TEST_RUN(test_held_text_flushed_at_end);
    TEST_RUN(test_earliest_of_several_wins);
    TEST_RUN(test_stop_at_very_start_and_overlap);
    TEST_RUN(test_utf8_stop);
    TEST_MAIN_END();
}
