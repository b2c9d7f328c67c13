/* test_models.c -- models_pick: the model a request runs under and when it is a 404. */
#include "gateway/models.h"
#include "test.h"

#include <string.h>

/* CHECK_STR with the length of what came back (NULL fails). */
#define CHECK_MODEL(got, expected)                                                                 \
    do {                                                                                           \
        const char *_m = (got);                                                                    \
        CHECK(_m != NULL);                                                                         \
        if (_m) CHECK_STR(_m, strlen(_m), expected);                                               \
    } while (0)

static json_t *served(const char *a, const char *b)
{
    json_t *o = json_object();
    if (a) json_object_set_new(o, a, json_integer(1));
    if (b) json_object_set_new(o, b, json_integer(2));
    return o;
}

static void test_unnamed(void)
{
    json_t *none = served(NULL, NULL), *one = served("llama-3", NULL), *two = served("a", "b");
    CHECK_MODEL(models_pick("", NULL, ""), "default"); /* nothing known yet */
    CHECK_MODEL(models_pick("", none, ""), "default"); /* no live worker */
    CHECK_MODEL(models_pick("", one, ""), "llama-3");  /* the one served model */
    CHECK_MODEL(models_pick("", two, ""), "default");  /* ambiguous: no guess */
    CHECK_MODEL(models_pick("", one, "mine"), "mine"); /* --default-model wins */
    CHECK_MODEL(models_pick(NULL, one, NULL), "llama-3");
    json_decref(none);
    json_decref(one);
    json_decref(two);
}

static void test_named(void)
{
    json_t *none = served(NULL, NULL), *two = served("a", "b");
    CHECK_MODEL(models_pick("x", NULL, ""), "x"); /* unknown: accept */
    CHECK_MODEL(models_pick("x", none, ""), "x"); /* scaling from zero: accept */
    CHECK_MODEL(models_pick("b", two, ""), "b");
    CHECK(models_pick("x", two, "a") == NULL); /* live workers, none serves x: 404 */
    json_decref(none);
    json_decref(two);
}

int main(void)
{
    TEST_RUN(test_unnamed);
    TEST_RUN(test_named);
    TEST_MAIN_END();
}
