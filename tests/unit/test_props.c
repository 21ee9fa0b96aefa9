/*
 * test_props.c: unit tests of the .properties lexer (util/util_props.c), the first step of
 * loading a job file: every separator, comments, line continuation, each escape including
 * \uXXXX surrogate pairs, line endings, trimming, ${VAR} substitution and the line numbers
 * reported to the callback and in errors.
 */
#include <stdio.h>
#include <string.h>

#include "unit.h"
#include "util_props.h"

typedef struct kv {
    char key[128];
    char val[256];
    int line;
} kv_t;

typedef struct coll {
    kv_t kv[32];
    int n;
    int stop_at; /* return 7 from the callback for this pair (1-based); 0 = never */
} coll_t;

static int collect(void *opaque, const char *key, const char *value, int line) {
    coll_t *c = opaque;
    if (c->n >= 32)
        return 99;
    snprintf(c->kv[c->n].key, sizeof(c->kv[c->n].key), "%s", key);
    snprintf(c->kv[c->n].val, sizeof(c->kv[c->n].val), "%s", value);
    c->kv[c->n].line = line;
    c->n++;
    return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static const char *fake_env(void *opaque, const char *name) {
    (void)opaque;
    if (!strcmp(name, "HOME_X"))
        return "/home/x";
    if (!strcmp(name, "EMPTY"))
        return "";
    if (!strcmp(name, "SPACEY"))
        return "a b ";
    return NULL;
}

static char err[512];

static int parse_len(const char *text, size_t len, coll_t *c) {
    memset(c, 0, sizeof(*c));
    err[0] = '\0';
    return sl_props_parse("t.properties", text, len, collect, c, fake_env, NULL, err,
                          sizeof(err));
}

static int parse(const char *text, coll_t *c) {
    return parse_len(text, strlen(text), c);
}

#define ASSERT_KV(c, i, k, v, ln)                                                               \
    do {                                                                                        \
        CU_ASSERT_FATAL((i) < (c)->n);                                                          \
        CU_ASSERT_STRING_EQUAL((c)->kv[i].key, (k));                                            \
        CU_ASSERT_STRING_EQUAL((c)->kv[i].val, (v));                                            \
        CU_ASSERT_EQUAL((c)->kv[i].line, (ln));                                                 \
    } while (0)

static void test_separators(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf\f6\n  g=7\na b=c\nk=v=w\n"
                          "m:n:o\np = =x\n",
                          &c),
                    0);
    CU_ASSERT_EQUAL(c.n, 11);
    ASSERT_KV(&c, 0, "a", "1", 1);
    ASSERT_KV(&c, 1, "b", "2", 2);
    ASSERT_KV(&c, 2, "c", "3", 3);
    ASSERT_KV(&c, 3, "d", "4", 4);
    ASSERT_KV(&c, 4, "e", "5", 5);
    ASSERT_KV(&c, 5, "f", "6", 6);
    ASSERT_KV(&c, 6, "g", "7", 7);
    ASSERT_KV(&c, 7, "a", "b=c", 8);
    ASSERT_KV(&c, 8, "k", "v=w", 9);
    ASSERT_KV(&c, 9, "m", "n:o", 10);
    ASSERT_KV(&c, 10, "p", "=x", 11);
}

static void test_comments(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("# comment\n! bang\n   # indented\n\t! tabbed\nk=v # not a comment\n"
                          "# ends with backslash \\\nx=y\nh=#v\n",
                          &c),
                    0);
    CU_ASSERT_EQUAL(c.n, 3);
    ASSERT_KV(&c, 0, "k", "v # not a comment", 5);
    ASSERT_KV(&c, 1, "x", "y", 7);
    ASSERT_KV(&c, 2, "h", "#v", 8);
}

static void test_continuation(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("k=a\\\n   b\\\n\tc\nn=1\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 2);
    ASSERT_KV(&c, 0, "k", "abc", 1);
    ASSERT_KV(&c, 1, "n", "1", 4);

    /* An even number of backslashes is escaped backslashes: no continuation. */
    CU_ASSERT_EQUAL(parse("k=a\\\\\nn=1\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 2);
    ASSERT_KV(&c, 0, "k", "a\\", 1);
    ASSERT_KV(&c, 1, "n", "1", 2);

    /* Three: one escaped backslash, then a continuation. */
    CU_ASSERT_EQUAL(parse("k=a\\\\\\\n  b\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 1);
    ASSERT_KV(&c, 0, "k", "a\\b", 1);

    /* Continuation inside a key; a continued line starting with '#' is not a comment. */
    CU_ASSERT_EQUAL(parse("ke\\\n  y=v\\\n  # still value\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 1);
    ASSERT_KV(&c, 0, "key", "v# still value", 1);

    /* A backslash on the last line of the text is dropped. */
    CU_ASSERT_EQUAL(parse("k=end\\", &c), 0);
    ASSERT_KV(&c, 0, "k", "end", 1);
}

static void test_line_numbers(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("\n# c\na=1\\\n2\\\n3\n\n\nb=4\r\nc=\\\r\n 5\rd=6", &c), 0);
    CU_ASSERT_EQUAL(c.n, 4);
    ASSERT_KV(&c, 0, "a", "123", 3);
    ASSERT_KV(&c, 1, "b", "4", 8);
    ASSERT_KV(&c, 2, "c", "5", 9);
    ASSERT_KV(&c, 3, "d", "6", 11);
}

static void test_escapes(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("k=\\t\\n\\r\\f\\\\\\=\\:\\#\\!\\ x\\q\\$\n", &c), 0);
    ASSERT_KV(&c, 0, "k", "\t\n\r\f\\=:#! xq$", 1);
    CU_ASSERT_EQUAL(parse("a\\=b=c\na\\ b c\na\\:b:c\n\\#k=v\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 4);
    ASSERT_KV(&c, 0, "a=b", "c", 1);
    ASSERT_KV(&c, 1, "a b", "c", 2);
    ASSERT_KV(&c, 2, "a:b", "c", 3);
    ASSERT_KV(&c, 3, "#k", "v", 4);
}

static void test_unicode(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("k=\\u0041\\u00e9\\u20AC\\uD83D\\uDE00!\n\\u006bey=x\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 2);
    ASSERT_KV(&c, 0, "k", "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80!", 1);
    ASSERT_KV(&c, 1, "key", "x", 2);
}

static void test_unicode_errors(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=1\nb=\\u12G4\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:2: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "\\u"));

    CU_ASSERT_EQUAL(parse("a=1\n\nc=\\u12", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:3: "));

    /* Truncated by the end of the line, not of the text. */
    CU_ASSERT_EQUAL(parse("c=\\u1\nd=2\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: "));

    /* In a key, too. */
    CU_ASSERT_EQUAL(parse("x\\uzzzz=1\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: "));

    /* A bad escape on a continued line names the line it is on. */
    CU_ASSERT_EQUAL(parse("a=x\\\n  \\u00\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:2: "));

    /* Lone surrogates cannot be UTF-8. */
    CU_ASSERT_EQUAL(parse("x=\\uD83Dz\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "surrogate"));
    CU_ASSERT_EQUAL(parse("x=\\uDE00\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "surrogate"));
    CU_ASSERT_EQUAL(parse("x=\\u0000\n", &c), -1);
    CU_ASSERT_EQUAL(parse_len("a=1\nb=x\0y\n", 10, &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:2: "));
}

static void test_line_ends(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=1\r\nb=2\rc=3\n\r\nd=4\r", &c), 0);
    CU_ASSERT_EQUAL(c.n, 4);
    ASSERT_KV(&c, 0, "a", "1", 1);
    ASSERT_KV(&c, 1, "b", "2", 2);
    ASSERT_KV(&c, 2, "c", "3", 3);
    ASSERT_KV(&c, 3, "d", "4", 5);
    /* A UTF-8 byte order mark is skipped. */
    CU_ASSERT_EQUAL(parse("\xEF\xBB\xBFk=v\n", &c), 0);
    ASSERT_KV(&c, 0, "k", "v", 1);
}

static void test_trim_and_empty(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=v  \t \nb=v\\ \nc=\nd\ne   \nf:\ng = \\t\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 7);
    ASSERT_KV(&c, 0, "a", "v", 1);
    ASSERT_KV(&c, 1, "b", "v ", 2);
    ASSERT_KV(&c, 2, "c", "", 3);
    ASSERT_KV(&c, 3, "d", "", 4);
    ASSERT_KV(&c, 4, "e", "", 5);
    ASSERT_KV(&c, 5, "f", "", 6);
    ASSERT_KV(&c, 6, "g", "\t", 7);

    CU_ASSERT_EQUAL(parse("ok=1\n=x\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:2: empty key"));
    CU_ASSERT_EQUAL(parse(":x\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: empty key"));
}

static void test_substitution(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=${HOME_X}/bin\nb=${NOPE:-dflt}\nc=${EMPTY:-d2}\nd=${HOME_X:-zz}\n"
                          "e=x${EMPTY}y\nf=${NOPE:-a\\}b}\ng=${SPACEY}\nh=$HOME_X $ {x}\n"
                          "i=$${HOME_X}\n${HOME_X}=k\n",
                          &c),
                    0);
    CU_ASSERT_EQUAL(c.n, 10);
    ASSERT_KV(&c, 0, "a", "/home/x/bin", 1);
    ASSERT_KV(&c, 1, "b", "dflt", 2);
    ASSERT_KV(&c, 2, "c", "d2", 3);
    ASSERT_KV(&c, 3, "d", "/home/x", 4);
    ASSERT_KV(&c, 4, "e", "xy", 5);
    ASSERT_KV(&c, 5, "f", "a}b", 6);
    ASSERT_KV(&c, 6, "g", "a b ", 7); /* a substituted value is not trimmed */
    ASSERT_KV(&c, 7, "h", "$HOME_X $ {x}", 8);
    ASSERT_KV(&c, 8, "i", "$/home/x", 9);
    ASSERT_KV(&c, 9, "${HOME_X}", "k", 10); /* keys are not substituted */
}

static void test_substitution_errors(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=1\nb=x${NOPE}\n", &c), -1);
    CU_ASSERT_STRING_EQUAL(err, "t.properties:2: environment variable NOPE is not set");
    CU_ASSERT_EQUAL(parse("a=${HOME_X", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: unterminated"));
    CU_ASSERT_EQUAL(parse("a=${NOPE:-abc\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: unterminated"));
    CU_ASSERT_EQUAL(parse("a=${}\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: malformed"));
    CU_ASSERT_EQUAL(parse("a=${A B}\n", &c), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.properties:1: malformed"));
}

static void test_escaped_dollar(void) {
    coll_t c;
    CU_ASSERT_EQUAL(parse("a=\\${HOME_X}\nb=\\${NOPE}\nc=\\u0024{HOME_X}\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 3);
    ASSERT_KV(&c, 0, "a", "${HOME_X}", 1);
    ASSERT_KV(&c, 1, "b", "${NOPE}", 2);
    ASSERT_KV(&c, 2, "c", "${HOME_X}", 3);
}

static void test_no_lookup(void) {
    coll_t c;
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(sl_props_parse("n", "a=${X}\n", 7, collect, &c, NULL, NULL, err, sizeof(err)),
                    0);
    ASSERT_KV(&c, 0, "a", "${X}", 1);
}

static void test_callback_stop(void) {
    coll_t c;
    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    const char *text = "a=1\nb=2\nc=3\n";
    CU_ASSERT_EQUAL(sl_props_parse("n", text, strlen(text), collect, &c, NULL, NULL, err,
                                   sizeof(err)),
                    7);
    CU_ASSERT_EQUAL(c.n, 2);
    /* Not NUL-terminated: only len bytes are read. */
    memset(&c, 0, sizeof(c));
    CU_ASSERT_EQUAL(sl_props_parse("n", "a=1\nb=2", 5, collect, &c, NULL, NULL, NULL, 0), 0);
    CU_ASSERT_EQUAL(c.n, 2);
    ASSERT_KV(&c, 1, "b", "", 2);
    /* Empty and comment-only texts give no pairs. */
    CU_ASSERT_EQUAL(parse("", &c), 0);
    CU_ASSERT_EQUAL(c.n, 0);
    CU_ASSERT_EQUAL(parse("   \n# x\n\t\n", &c), 0);
    CU_ASSERT_EQUAL(c.n, 0);
}

void test_props_register(void) {
    static const unit_test_t tests[] = {
        {"separators", test_separators},
        {"comments", test_comments},
        {"continuation", test_continuation},
        {"line_numbers", test_line_numbers},
        {"escapes", test_escapes},
        {"unicode", test_unicode},
        {"unicode_errors", test_unicode_errors},
        {"line_ends", test_line_ends},
        {"trim_and_empty", test_trim_and_empty},
        {"substitution", test_substitution},
        {"substitution_errors", test_substitution_errors},
        {"escaped_dollar", test_escaped_dollar},
        {"no_lookup", test_no_lookup},
        {"callback_stop", test_callback_stop},
        {NULL, NULL},
    };
    unit_add_suite("props", tests);
}
