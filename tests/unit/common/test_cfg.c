/* test_cfg.c -- flags override environment override defaults; errors name the flag. */
#include "common/cfg.h"
#include "test.h"

static void test_flags_env_and_rest(void)
{
    long long max_queue = 10;
    double step = 0;
    int verbose = 0;
    char *name = "default";
    struct cfg_opt opts[] = {
        { "max-queue", CFG_INT, &max_queue, "queue bound" },
        { "step-ms", CFG_DOUBLE, &step, "step" },
        { "verbose", CFG_BOOL, &verbose, "chatty" },
        { "name", CFG_STR, &name, "a name" },
        { .name = NULL },
    };
    setenv("LLMQ_MAX_QUEUE", "50", 1);
    setenv("LLMQ_NAME", "env", 1);
    char *argv[] = { "prog", "--step-ms=2.5", "--verbose", "--other", "7", "pos", "--name", "flag" };
    struct cfg_rest rest;
    struct err e;
    CHECK_EQ(cfg_parse(opts, 8, argv, 1, "usage", &rest, &e), 0);
    CHECK_EQ(max_queue, 50);
    CHECK_NEAR(step, 2.5, 0);
    CHECK_EQ(verbose, 1);
    CHECK(!strcmp(name, "flag"));
    CHECK_EQ(rest.argc, 3);
    CHECK(!strcmp(rest.argv[0], "--other") && !strcmp(rest.argv[1], "7") && !strcmp(rest.argv[2], "pos"));
    cfg_rest_free(&rest);

    char *bad[] = { "prog", "--max-queue", "ten" };
    CHECK_EQ(cfg_parse(opts, 3, bad, 1, "usage", NULL, &e), -EINVAL);
    CHECK(strstr(e.msg, "max-queue") != NULL);
    char *unknown[] = { "prog", "--nope" };
    CHECK_EQ(cfg_parse(opts, 2, unknown, 1, "usage", NULL, &e), -EINVAL);
    CHECK(strstr(e.msg, "--nope") != NULL);
    cfg_free(opts);
    unsetenv("LLMQ_MAX_QUEUE");
    unsetenv("LLMQ_NAME");
}

int main(void)
{
    TEST_RUN(test_flags_env_and_rest);
    TEST_MAIN_END();
}
