/* test.h -- the whole unit-test framework: CHECK macros that count and report failures,
 * TEST_RUN to call one test function, and TEST_MAIN_END to print the closing line
 * "N passed, N failed" and exit non-zero on any failure. Tests stay plain C functions. */
#ifndef LLMQ_TEST_H
#define LLMQ_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures, test_checks, test_passed, test_failed, test_skipped;

#define CHECK(cond) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); test_checks++; \
    if (_a != _b) { test_failures++; fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", \
    __FILE__, __LINE__, #a, #b, _a, _b); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b); test_checks++; \
    if (!(fabs(_a - _b) <= (tol))) { test_failures++; fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s ~ %s (%g vs %g, tol %g)\n", \
    __FILE__, __LINE__, #a, #b, _a, _b, (double)(tol)); } } while (0)
/* Compares n bytes of got with the NUL-terminated expected string. */
#define CHECK_STR(got, n, expected) do { const char *_g = (got); size_t _n = (n); const char *_e = (expected); \
    test_checks++; if (_n != strlen(_e) || memcmp(_g, _e, _n) != 0) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK_STR failed:\n  got      '%.*s'\n  expected '%s'\n", __FILE__, __LINE__, (int)_n, _g, _e); } } while (0)

#define TEST_RUN(fn) do { int _before = test_failures; fn(); \
    if (test_failures == _before) test_passed++; else { test_failed++; fprintf(stderr, "FAIL %s\n", #fn); } } while (0)
/* Marks the current test as skipped with a one-line reason; use as `TEST_SKIP("why"); return;` */
#define TEST_SKIP(why) do { test_skipped++; test_passed--; fprintf(stderr, "SKIP %s: %s\n", __func__, why); } while (0)

#define TEST_MAIN_END() do { \
    if (test_skipped) printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped); \
    else printf("%d passed, %d failed\n", test_passed, test_failed); \
    return test_failed ? 1 : 0; } while (0)

/* Directory of ../shared (set by CTest), or NULL when absent: tests using it skip. */
static inline const char *test_shared_dir(void)
{
    static char path[4096];
    const char *d = getenv("LLMQ_SHARED_DIR");
    if (!d || !*d) return NULL;
    snprintf(path, sizeof(path), "%s/testdata/README.md", d);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fclose(f);
    return d;
}

#endif
