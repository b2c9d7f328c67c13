/* test_engine_bench.c -- `llmq-engine-bench` and `llmq-kernel-bench` as `make bench` runs
 * them (the built binaries, LLMQ_BIN_DIR), on a model the test writes: the bandwidth table,
 * a row of positive figures per thread count and batch size, a failed model's row and exit
 * status, bad options; the kernel bench's row per tensor type. Only that the figures are
 * there and positive is checked -- how fast is what the benchmarks report, not a test. */
#include "test.h"

#include <unistd.h>

#include "e2e/harness.h"
#include "tiny_model.h"

static char bench[4096], kbench[4096];
static const char *model_path;

/* The cells of the first table row that starts with "| label |" at or after from, split
 * at '|' (cells[0] = label); returns the count, 0 when there is no such row. */
static int row_cells(const char *from, const char *label, char cells[][64], int max)
{
    char head[128];
    snprintf(head, sizeof(head), "\n| %s |", label);
    const char *p = strstr(from, head);
    if (!p) return 0;
    p += 3;
    int n = 0;
    while (*p && *p != '\n' && n < max) {
        const char *e = p;
        while (*e && *e != '|' && *e != '\n') e++;
        if (*e != '|') break;
        int len = (int)(e - p);
        while (len > 0 && p[0] == ' ') p++, len--;
        while (len > 0 && p[len - 1] == ' ') len--;
        snprintf(cells[n++], 64, "%.*s", len < 63 ? len : 63, p);
        p = e + 1;
    }
    return n;
}

static void test_engine_bench(void)
{
    static char out[1 << 16], cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "%s --threads 1,2 --batches 1,4 --pp 8 --tg 8 --bt-steps 4 --reps 1 --bandwidth-mb 16 "
             "%s=tiny 2>/dev/null", bench, model_path);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "## Memory read bandwidth") != NULL);
    char c[32][64];
    /* bandwidth rows: | threads | GB/s | */
    CHECK_EQ(row_cells(out, "1", c, 32), 2);
    CHECK(atof(c[1]) > 0);
    CHECK_EQ(row_cells(out, "2", c, 32), 2);
    CHECK(atof(c[1]) > 0);
    /* | tiny | f16 | MB | then per thread count: pp [ref] | tg [ref] | bound (share) | cpu |,
     * then tokens pp/tg | load s | */
    const char *gen = strstr(out, "## Prompt and generation");
    CHECK(gen != NULL);
    if (!gen) return;
    int n = row_cells(gen, "tiny", c, 32);
    CHECK_EQ(n, 3 + 2 * 4 + 2);
    if (n != 13) return;
    CHECK(!strcmp(c[1], "f16"));
    CHECK(atof(c[2]) > 0);
    for (int t = 0; t < 2; t++) {
        CHECK(atof(c[3 + 4 * t]) > 0);                 /* pp tokens/s */
        CHECK(atof(c[4 + 4 * t]) > 0);                 /* tg tokens/s */
        CHECK(strchr(c[5 + 4 * t], '%') != NULL);      /* bound (share) */
        CHECK(atof(c[6 + 4 * t]) > 0);                 /* cpu share */
    }
    CHECK(!strcmp(c[11], "8/8"));
    /* batched: | tiny | B=1 | B=4 | steps | */
    const char *bt = strstr(gen, "## Batched decode");
    CHECK(bt != NULL);
    if (!bt) return;
    CHECK_EQ(row_cells(bt, "tiny", c, 32), 4);
    CHECK(atof(c[1]) > 0 && atof(c[2]) > 0);
    CHECK_EQ(atoi(c[3]), 4);
}

static void test_engine_bench_errors(void)
{
    static char out[1 << 16], cmd[8192];
    /* a model that does not load: its row says why, the other is still measured, exit 1 */
    snprintf(cmd, sizeof(cmd),
             "%s --threads 1 --batches 1 --pp 4 --tg 4 --bt-steps 2 --reps 1 --bandwidth-mb 0 "
             "/nonexistent.gguf=gone %s=tiny 2>/dev/null", bench, model_path);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 1);
    CHECK(strstr(out, "| gone | | | load: /nonexistent.gguf") != NULL);
    char c[32][64];
    const char *gen = strstr(out, "## Prompt and generation");
    CHECK(gen && row_cells(gen, "tiny", c, 32) == 3 + 4 + 2 && atof(c[4]) > 0);
    snprintf(cmd, sizeof(cmd), "%s --bogus 2>&1", bench);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
    CHECK(strstr(out, "usage: llmq-engine-bench") != NULL);
    snprintf(cmd, sizeof(cmd), "%s --threads 0 %s 2>&1", bench, model_path);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 2);
}

static void test_kernel_bench(void)
{
    static char out[1 << 16], cmd[8192];
    snprintf(cmd, sizeof(cmd), "%s 256 2>/dev/null", kbench);
    CHECK_EQ(h_run(cmd, out, sizeof(out)), 0);
    CHECK(strstr(out, "read bandwidth") != NULL);
    char c[32][64];
    /* | type | act | L2-hot | streamed | x4 | x16 | x16 tile | x16 tile streamed | values/ns | */
    static const char *types[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K" };
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        CHECK_EQ(row_cells(out, types[k], c, 32), 9);
        for (int i = 2; i < 6; i++) CHECK(atof(c[i]) > 0);
        CHECK(atof(c[8]) > 0);
    }
    CHECK(row_cells(out, "f16", c, 32) == 9 && atof(c[6]) > 0 && atof(c[7]) > 0);
}

int main(void)
{
    const char *bin = getenv("LLMQ_BIN_DIR");
    snprintf(bench, sizeof(bench), "%s/llmq-engine-bench", bin ? bin : ".");
    snprintf(kbench, sizeof(kbench), "%s/llmq-kernel-bench", bin ? bin : ".");
    if (access(bench, X_OK) != 0 || access(kbench, X_OK) != 0) {
        TEST_SKIP("llmq-engine-bench / llmq-kernel-bench not built (LLMQ_BIN_DIR)");
        TEST_MAIN_END();
    }
    const char *model = tiny_model_path("bench");
    struct tiny_model_opts o = { .seed = 5, .type = GGML_TYPE_F16 };
    CHECK_EQ(tiny_model_write(model, &o), 0);
    model_path = model;
    TEST_RUN(test_engine_bench);
    TEST_RUN(test_engine_bench_errors);
    TEST_RUN(test_kernel_bench);
    unlink(model);
    TEST_MAIN_END();
}
