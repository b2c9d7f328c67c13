/* test_auth.c -- key loading, constant-time check (by SHA-256 digest), key ids, header parsing. */
#include "gateway/auth.h"
#include "test.h"

#include <stdio.h>
#include <unistd.h>

static void test_check(void)
{
    struct auth a;
    struct err e = {0};
    CHECK_EQ(auth_init(&a, " k1 , k2,,", NULL, &e), 0);
    CHECK_EQ(a.n_keys, 2);
    CHECK(!auth_open(&a));
    char id[AUTH_KEY_ID_LEN + 1];
    CHECK(auth_check(&a, "k1", 2, id));
    CHECK_EQ(strlen(id), 16);
    CHECK(auth_check(&a, "k2", 2, id));
    CHECK(!auth_check(&a, "k3", 2, id));
    CHECK(!auth_check(&a, "k", 1, id)); /* prefixes do not match */
    CHECK(!auth_check(&a, "k1x", 3, id));
    CHECK(!auth_check(&a, "", 0, id));
    char id2[AUTH_KEY_ID_LEN + 1];
    auth_key_id("k1", 2, id2);
    auth_check(&a, "k1", 2, id);
    CHECK(!strcmp(id, id2));
    /* SHA-256("abc") = ba7816bf8f01cfea... */
    auth_key_id("abc", 3, id);
    CHECK(!strcmp(id, "ba7816bf8f01cfea"));
    auth_deinit(&a);
    CHECK_EQ(auth_init(&a, "# keys\nka\n\nkb\n", NULL, &e), 0); /* a file's content as the list */
    CHECK_EQ(a.n_keys, 2);
    CHECK(auth_check(&a, "kb", 2, id));
    auth_deinit(&a);
    CHECK_EQ(auth_init(&a, NULL, NULL, &e), 0);
    CHECK(auth_open(&a));
    auth_deinit(&a);
}

static void test_file(void)
{
    char path[] = "/tmp/llmq-auth-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\nfilekey\n\n other \n");
    fclose(f);
    struct auth a;
    struct err e = {0};
    CHECK_EQ(auth_init(&a, "k1", path, &e), 0);
    CHECK_EQ(a.n_keys, 3);
    char id[AUTH_KEY_ID_LEN + 1];
    CHECK(auth_check(&a, "filekey", 7, id));
    CHECK(auth_check(&a, "other", 5, id));
    auth_deinit(&a);
    unlink(path);
    CHECK(auth_init(&a, NULL, "/nonexistent/keys", &e) < 0);
    CHECK(strstr(e.msg, "cannot open") != NULL);
    auth_deinit(&a);
}

static void test_headers(void)
{
    const char *k;
    size_t n;
    CHECK_EQ(auth_bearer("Bearer abc", 10, &k, &n), 0);
    CHECK_STR(k, n, "abc");
    CHECK_EQ(auth_bearer("bearer   abc  ", 14, &k, &n), 0);
    CHECK_STR(k, n, "abc");
    CHECK(auth_bearer("Basic abc", 9, &k, &n) < 0);
    CHECK(auth_bearer("Bearer ", 7, &k, &n) < 0);
    const char *p = "llmq.v1, bearer.sk-123";
    CHECK_EQ(auth_ws_protocol(p, strlen(p), &k, &n), 0);
    CHECK_STR(k, n, "sk-123");
    CHECK(auth_ws_protocol("llmq.v1", 7, &k, &n) < 0);
}

int main(void)
{
    TEST_RUN(test_check);
    TEST_RUN(test_file);
    TEST_RUN(test_headers);
    TEST_MAIN_END();
}
