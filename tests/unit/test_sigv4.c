/*
 * test_sigv4.c: unit tests of the SigV4 signer (aws/aws_sigv4.c). The main test runs the AWS
 * signing test suite (aws-c-auth's tests/aws-signing-test-suite/v4) read at run time from
 * $SLUICE_SIGV4_SUITE or "$top_srcdir/tests/data/sigv4": for every case folder it parses
 * context.json and request.txt, signs with headers and with a presigned query, and compares the
 * canonical request, string to sign, signature and signed request byte for byte with the
 * expected files. A missing suite is a failure, never a skip. Be plain about why this matters:
 * the local AWS implementations used elsewhere in the tests (the Kinesis and DynamoDB stand-ins)
 * do not check signatures at all, so this suite and the botocore cross-check (tests/0010) are
 * the only proof that sluice's requests would be accepted by AWS. Further tests pin the two
 * known answers of REFERENCE.md, path and query edge cases, errors that must not leak secrets,
 * and print the cost of signing a 1 KB JSON POST.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aws_sigv4.h"
#include "unit.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T_20150830 1440938160000LL /* 2015-08-30T12:36:00Z in ms */

/* A failed assertion with a formatted message (CU_FAIL only takes a literal). */
static void failf(int line, const char *fmt, ...) SL_PRINTF(2, 3);
static void failf(int line, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  FAIL: %s\n", msg);
    CU_assertImplementation(CU_FALSE, (unsigned)line, msg, __FILE__, "", CU_FALSE);
}
#define FAILF(...) failf(__LINE__, __VA_ARGS__)

/* snprintf without gcc's truncation analysis: test paths are short, and truncation would only
 * make a file not found, which fails the test anyway. */
static void fmt(char *out, size_t size, const char *f, ...) SL_PRINTF(3, 4);
static void fmt(char *out, size_t size, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, size, f, ap);
    va_end(ap);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void join(char *out, size_t size, const char *dir, const char *name) {
    fmt(out, size, "%s/%s", dir, name);
}

static void suite_dir(char *out, size_t size) {
    const char *over = getenv("SLUICE_SIGV4_SUITE");
    if (over && *over) {
        fmt(out, size, "%s", over);
        return;
    }
    const char *top = getenv("top_srcdir");
    fmt(out, size, "%s/tests/data/sigv4", top && *top ? top : ".");
}

/* ---- one suite case ----------------------------------------------------------------------- */

#define MAXH 32

typedef struct tcase {
    char *text;     /* request.txt, cut in place */
    char *reqline;  /* "GET /x?y HTTP/1.1" (copy) */
    char *method;   /* copy */
    char *path;     /* copy, raw */
    char *query;    /* copy, raw, may be "" */
    const char *hblock; /* the header lines as in the file, each ending in '\n' (copy) */
    char *hblock_buf;
    const char *body;
    size_t body_len;
    aws_sigv4_header_t hdr[MAXH];
    char *hdr_mem[MAXH * 2];
    int nh;
    /* context.json */
    char *ak, *sk, *token;
    int normalize, sign_body, omit_token;
    int64_t expires, now_ms;
    char *region, *service;
} tcase_t;

static void tcase_free(tcase_t *tc) {
    free(tc->text);
    free(tc->reqline);
    free(tc->method);
    free(tc->path);
    free(tc->query);
    free(tc->hblock_buf);
    for (int i = 0; i < tc->nh * 2; i++)
        free(tc->hdr_mem[i]);
    free(tc->ak);
    free(tc->sk);
    free(tc->token);
    free(tc->region);
    free(tc->service);
    memset(tc, 0, sizeof(*tc));
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Parses request.txt: request line, header lines (a line starting with white space continues
 * the previous value, kept with its line break so the signer has to fold it), a blank line and
 * the body. Returns 0 or -1. */
static int parse_request(tcase_t *tc, const char *file) {
    size_t len;
    tc->text = read_all(file, &len);
    if (!tc->text)
        return -1;
    const char *p = tc->text, *end = tc->text + len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol)
        eol = end;
    tc->reqline = dup_n(p, (size_t)(eol - p));
    const char *sp = memchr(p, ' ', (size_t)(eol - p));
    const char *http = NULL;
    for (const char *q = eol - 1; q > p; q--)
        if (!strncmp(q, " HTTP/", 6)) {
            http = q;
            break;
        }
    if (!sp || !http || http <= sp)
        return -1;
    tc->method = dup_n(p, (size_t)(sp - p));
    const char *target = sp + 1;
    const char *qm = memchr(target, '?', (size_t)(http - target));
    tc->path = dup_n(target, (size_t)((qm ? qm : http) - target));
    tc->query = qm ? dup_n(qm + 1, (size_t)(http - qm - 1)) : dup_n("", 0);

    /* Headers. */
    p = eol < end ? eol + 1 : end;
    const char *hstart = p;
    while (p < end && *p != '\n') {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (*p == ' ' || *p == '\t') {
            if (tc->nh == 0)
                return -1;
            char *prev = tc->hdr_mem[(tc->nh - 1) * 2 + 1];
            size_t pl = strlen(prev), ll = (size_t)(eol - p);
            char *nv = realloc(prev, pl + 1 + ll + 1);
            if (!nv)
                return -1;
            nv[pl] = '\n';
            memcpy(nv + pl + 1, p, ll);
            nv[pl + 1 + ll] = '\0';
            tc->hdr_mem[(tc->nh - 1) * 2 + 1] = nv;
        } else {
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            if (!colon || tc->nh >= MAXH)
                return -1;
            tc->hdr_mem[tc->nh * 2] = dup_n(p, (size_t)(colon - p));
            tc->hdr_mem[tc->nh * 2 + 1] = dup_n(colon + 1, (size_t)(eol - colon - 1));
            tc->nh++;
        }
        p = eol < end ? eol + 1 : end;
    }
    /* The header block as in the file, each line ending in '\n'. */
    size_t hl = (size_t)(p - hstart);
    tc->hblock_buf = malloc(hl + 2);
    memcpy(tc->hblock_buf, hstart, hl);
    if (hl && tc->hblock_buf[hl - 1] != '\n')
        tc->hblock_buf[hl++] = '\n';
    tc->hblock_buf[hl] = '\0';
    tc->hblock = tc->hblock_buf;
    for (int i = 0; i < tc->nh; i++) {
        tc->hdr[i].name = tc->hdr_mem[i * 2];
        tc->hdr[i].value = tc->hdr_mem[i * 2 + 1];
    }
    if (p < end && *p == '\n')
        p++;
    tc->body = p;
    tc->body_len = (size_t)(end - p);
    return 0;
}

static char *json_strdup(json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? strdup(s) : NULL;
}

static int parse_context(tcase_t *tc, const char *file) {
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root)
        return -1;
    int rc = -1;
    json_t *cr = json_object_get(root, "credentials");
    tc->ak = json_strdup(cr, "access_key_id");
    tc->sk = json_strdup(cr, "secret_access_key");
    tc->token = json_strdup(cr, "token");
    tc->region = json_strdup(root, "region");
    tc->service = json_strdup(root, "service");
    tc->normalize = json_is_true(json_object_get(root, "normalize"));
    tc->sign_body = json_is_true(json_object_get(root, "sign_body"));
    tc->omit_token = json_is_true(json_object_get(root, "omit_session_token"));
    tc->expires = json_integer_value(json_object_get(root, "expiration_in_seconds"));
    const char *ts = json_string_value(json_object_get(root, "timestamp"));
    struct tm tm = {0};
    if (!tc->ak || !tc->sk || !tc->region || !tc->service || !ts ||
        sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        goto fail;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tc->now_ms = (int64_t)timegm(&tm) * 1000;
    rc = 0;
fail:
    json_decref(root);
    return rc;
}

typedef struct tally {
    int cases, compared, passed;
} tally_t;

/* Compares got with the expected file dir/name when it exists; 0 when it does not. */
static void compare(tally_t *ty, const char *dir, const char *name, const char *got) {
    char path[1024];
    join(path, sizeof(path), dir, name);
    size_t len;
    char *want = read_all(path, &len);
    if (!want) {
        if (errno != ENOENT)
            FAILF("cannot read %s", path);
        return;
    }
    ty->compared++;
    if (got && strlen(got) == len && !memcmp(got, want, len)) {
        ty->passed++;
    } else {
        fprintf(stderr, "\n--- %s expected:\n%s\n--- got:\n%s\n---\n", path, want,
                got ? got : "(null)");
        FAILF("%s differs", path);
    }
    free(want);
}

static void run_case(tally_t *ty, const char *dir) {
    tcase_t tc = {0};
    char path[1024], err[256];
    join(path, sizeof(path), dir, "request.txt");
    if (parse_request(&tc, path) < 0) {
        FAILF("cannot parse %s", path);
        goto done;
    }
    join(path, sizeof(path), dir, "context.json");
    if (parse_context(&tc, path) < 0) {
        FAILF("cannot parse %s", path);
        goto done;
    }
    ty->cases++;
    aws_sigv4_req_t req = {tc.method, tc.path, tc.query, tc.hdr, tc.nh, tc.body, tc.body_len};
    sl_aws_creds_t creds = {tc.ak, tc.sk, tc.token};
    aws_sigv4_params_t prm = {
        .region = tc.region,
        .service = tc.service,
        .now_ms = tc.now_ms,
        .normalize_path = tc.normalize,
        .sign_body_header = tc.sign_body,
        .expires_s = tc.expires,
        .omit_session_token = tc.omit_token,
    };

    /* Header signing; the signed request is the original plus what the caller would add. */
    aws_sigv4_result_t res;
    sl_err_t rc = aws_sigv4_sign(&req, &creds, &prm, &res, err, sizeof(err));
    if (rc != SL_OK) {
        FAILF("%s: aws_sigv4_sign: %s", dir, err);
    } else {
        size_t n = strlen(tc.reqline) + strlen(tc.hblock) + strlen(res.authorization) +
                   (tc.token ? strlen(tc.token) : 0) + tc.body_len + 256;
        char *sr = malloc(n);
        int o = snprintf(sr, n, "%s\n%s", tc.reqline, tc.hblock);
        if (tc.token)
            o += snprintf(sr + o, n - (size_t)o, "X-Amz-Security-Token:%s\n", tc.token);
        o += snprintf(sr + o, n - (size_t)o, "X-Amz-Date:%s\n", res.amz_date);
        if (tc.sign_body)
            o += snprintf(sr + o, n - (size_t)o, "x-amz-content-sha256:%s\n", res.content_sha256);
        o += snprintf(sr + o, n - (size_t)o, "Authorization:%s\n\n", res.authorization);
        memcpy(sr + o, tc.body, tc.body_len);
        sr[o + (int)tc.body_len] = '\0';
        compare(ty, dir, "header-canonical-request.txt", res.canonical_request);
        compare(ty, dir, "header-string-to-sign.txt", res.string_to_sign);
        compare(ty, dir, "header-signature.txt", res.signature);
        compare(ty, dir, "header-signed-request.txt", sr);
        free(sr);
        aws_sigv4_result_free(&res);
    }

    /* Query presigning. */
    rc = aws_sigv4_presign(&req, &creds, &prm, &res, err, sizeof(err));
    if (rc != SL_OK) {
        FAILF("%s: aws_sigv4_presign: %s", dir, err);
    } else {
        size_t n = strlen(tc.reqline) + strlen(res.query) + strlen(tc.hblock) + tc.body_len + 64;
        char *sr = malloc(n);
        int o = snprintf(sr, n, "%s %s?%s HTTP/1.1\n%s\n", tc.method, tc.path, res.query,
                         tc.hblock);
        memcpy(sr + o, tc.body, tc.body_len);
        sr[o + (int)tc.body_len] = '\0';
        compare(ty, dir, "query-canonical-request.txt", res.canonical_request);
        compare(ty, dir, "query-string-to-sign.txt", res.string_to_sign);
        compare(ty, dir, "query-signature.txt", res.signature);
        compare(ty, dir, "query-signed-request.txt", sr);
        free(sr);
        aws_sigv4_result_free(&res);
    }
done:
    tcase_free(&tc);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_aws_suite(void) {
    char dir[1024], sub[1200], probe[1300];
    suite_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d) {
        FAILF("the SigV4 test suite is missing: cannot open %s (%s); set top_srcdir or "
              "SLUICE_SIGV4_SUITE",
              dir, strerror(errno));
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256) {
        if (de->d_name[0] == '.')
            continue;
        fmt(probe, sizeof(probe), "%s/%s/request.txt", dir, de->d_name);
        FILE *f = fopen(probe, "r");
        if (!f)
            continue;
        fclose(f);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
    tally_t ty = {0};
    for (int i = 0; i < n; i++) {
        fmt(sub, sizeof(sub), "%s/%s", dir, names[i]);
        run_case(&ty, sub);
        free(names[i]);
    }
    printf("\n    sigv4 suite %s: %d cases, %d/%d comparisons passed ", dir, ty.cases, ty.passed,
           ty.compared);
    if (ty.cases < 30)
        FAILF("only %d cases found in %s (expected 30+)", ty.cases, dir);
    CU_ASSERT_EQUAL(ty.passed, ty.compared);
    CU_ASSERT(ty.compared >= ty.cases * 8);
}

/* ---- explicit cases ----------------------------------------------------------------------- */

static const aws_sigv4_header_t host_only[] = {{"Host", "example.amazonaws.com"}};
static const sl_aws_creds_t fixture_creds = {"AKIDEXAMPLE", SECRET, NULL};

static aws_sigv4_params_t fixture_params(void) {
    aws_sigv4_params_t prm = {
        .region = "us-east-1",
        .service = "service",
        .now_ms = T_20150830,
        .normalize_path = 1,
        .expires_s = 3600,
    };
    return prm;
}

/* REFERENCE.md's two known answers, independent of the suite files. */
static void test_known_answers(void) {
    aws_sigv4_params_t prm = fixture_params();
    aws_sigv4_result_t res;
    char err[256];
    aws_sigv4_req_t get = {"GET", "/", "", host_only, 1, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(aws_sigv4_sign(&get, &fixture_creds, &prm, &res, err, sizeof(err)),
                          SL_OK);
    CU_ASSERT_STRING_EQUAL(res.signature,
                           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    CU_ASSERT_STRING_EQUAL(res.authorization,
                           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                           "aws4_request, SignedHeaders=host;x-amz-date, Signature="
                           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    CU_ASSERT_STRING_EQUAL(res.amz_date, "20150830T123600Z");
    CU_ASSERT_STRING_EQUAL(res.signed_headers, "host;x-amz-date");
    CU_ASSERT_PTR_NULL(res.content_sha256);
    aws_sigv4_result_free(&res);
    CU_ASSERT_PTR_NULL(res.signature);
    aws_sigv4_result_free(&res); /* twice is harmless */

    aws_sigv4_req_t post = {"POST", "/", NULL, host_only, 1, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(aws_sigv4_sign(&post, &fixture_creds, &prm, &res, err, sizeof(err)),
                          SL_OK);
    CU_ASSERT_STRING_EQUAL(res.signature,
                           "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    aws_sigv4_result_free(&res);
    aws_sigv4_result_free(NULL);
}

/* Returns the second line (the canonical URI) of the canonical request for path. */
static void canon_path(const char *path, int normalize, int raw, char *out, size_t size) {
    aws_sigv4_params_t prm = fixture_params();
    prm.normalize_path = normalize;
    prm.raw_path = raw;
    aws_sigv4_req_t req = {"GET", path, "", host_only, 1, NULL, 0};
    aws_sigv4_result_t res;
    out[0] = '\0';
    if (aws_sigv4_sign(&req, &fixture_creds, &prm, &res, NULL, 0) != SL_OK)
        return;
    const char *s = strchr(res.canonical_request, '\n') + 1;
    snprintf(out, size, "%.*s", (int)(strchr(s, '\n') - s), s);
    aws_sigv4_result_free(&res);
}

static void test_paths(void) {
    static const struct {
        const char *in;
        int norm, raw;
        const char *want;
    } cases[] = {
        {"", 1, 0, "/"},
        {"", 0, 0, "/"},
        {"/a/b/../c/./d/", 1, 0, "/a/c/d/"},
        {"/a/b/..", 1, 0, "/a"}, /* botocore: no trailing slash after a final .. */
        {"/../../x", 1, 0, "/x"},
        {"//a///b//", 1, 0, "/a/b/"},
        {"/a/..//", 1, 0, "/"},
        {"/%20a b", 1, 0, "/%2520a%20b"}, /* non-S3: encoded once more */
        {"/%20a", 0, 1, "/%20a"},         /* S3: as sent */
        {"/a//./b/../c", 0, 1, "/a//./b/../c"},
        {"/a/./b", 1, 1, "/a/b"},
        {"/=;:@+$,!*'()[]", 1, 0, "/%3D%3B%3A%40%2B%24%2C%21%2A%27%28%29%5B%5D"},
        {"/\xc3\xa9t\xc3\xa9", 0, 0, "/%C3%A9t%C3%A9"},
        {"/..a/.b./...", 1, 0, "/..a/.b./..."},
    };
    char got[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        canon_path(cases[i].in, cases[i].norm, cases[i].raw, got, sizeof(got));
        if (strcmp(got, cases[i].want))
            FAILF("path '%s' (normalize %d raw %d): got '%s', want '%s'", cases[i].in,
                  cases[i].norm, cases[i].raw, got, cases[i].want);
    }
}

static void test_query(void) {
    aws_sigv4_params_t prm = fixture_params();
    aws_sigv4_req_t req = {"GET", "/", "b=2&a=&a=1&%61=0&c&&d=%zz&e=a+b%2fc&A=%7e", host_only, 1,
                          NULL, 0};
    aws_sigv4_result_t res;
    CU_ASSERT_EQUAL_FATAL(aws_sigv4_sign(&req, &fixture_creds, &prm, &res, NULL, 0), SL_OK);
    const char *q = strchr(strchr(res.canonical_request, '\n') + 1, '\n') + 1;
    const char *want = "A=~&a=&a=0&a=1&b=2&c=&d=%25zz&e=a%2Bb%2Fc\n";
    if (strncmp(q, want, strlen(want)))
        FAILF("canonical query: got '%.*s'", (int)(strchr(q, '\n') - q), q);
    aws_sigv4_result_free(&res);
}

static void test_headers(void) {
    aws_sigv4_params_t prm = fixture_params();
    prm.sign_body_header = 1;
    const aws_sigv4_header_t h[] = {
        {"HOST", " example.amazonaws.com "},
        {"User-Agent", "not signed"},
        {"X-Amz-Date", "19990101T000000Z"},   /* replaced by the signer's */
        {"x-b", "\t one \n  two\t\tthree  "},
        {"X-B", ""},
        {"X-A", "1"},
        {"authorization", "old"},
        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}, /* replaced: we always hash */
    };
    aws_sigv4_req_t req = {"PUT", "/", "", h, 8, "abc", 3};
    sl_aws_creds_t creds = {"AKID", SECRET, "TOKEN/+="};
    aws_sigv4_result_t res;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(aws_sigv4_sign(&req, &creds, &prm, &res, err, sizeof(err)), SL_OK);
    const char *want =
        "PUT\n/\n\n"
        "host:example.amazonaws.com\n"
        "x-a:1\n"
        "x-amz-content-sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
        "x-amz-date:20150830T123600Z\n"
        "x-amz-security-token:TOKEN/+=\n"
        "x-b:one two three,\n\n"
        "host;x-a;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-b\n"
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    CU_ASSERT_STRING_EQUAL(res.canonical_request, want);
    CU_ASSERT_STRING_EQUAL(res.content_sha256,
                           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    aws_sigv4_result_free(&res);

    /* Presigning: the token is sent in the query even when it is left out of the signature. */
    prm.omit_session_token = 1;
    CU_ASSERT_EQUAL_FATAL(aws_sigv4_presign(&req, &creds, &prm, &res, err, sizeof(err)), SL_OK);
    CU_ASSERT_PTR_NULL(strstr(res.canonical_request, "Security-Token"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.query, "&X-Amz-Security-Token=TOKEN%2F%2B%3D&X-Amz-Signature="));
    aws_sigv4_result_free(&res);
}

static void test_sha256_hex(void) {
    char out[65];
    aws_sha256_hex("abc", 3, out);
    CU_ASSERT_STRING_EQUAL(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    aws_sha256_hex(NULL, 0, out);
    CU_ASSERT_STRING_EQUAL(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* Errors are reported, and the message never carries the secret or the token. */
static void test_errors(void) {
    aws_sigv4_params_t prm = fixture_params();
    sl_aws_creds_t creds = {"AKID", SECRET, "SECRETTOKEN"};
    aws_sigv4_result_t res;
    char err[256];
    const aws_sigv4_header_t nohost[] = {{"X-A", "1"}};
    aws_sigv4_req_t req = {"GET", "/", "", nohost, 1, NULL, 0};
    CU_ASSERT_EQUAL(aws_sigv4_sign(&req, &creds, &prm, &res, err, sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Host"));
    CU_ASSERT_PTR_NULL(res.signature);

    req.headers = host_only;
    sl_aws_creds_t nosecret = {"AKID", "", "SECRETTOKEN"};
    CU_ASSERT_EQUAL(aws_sigv4_sign(&req, &nosecret, &prm, &res, err, sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(aws_sigv4_presign(&req, &creds, &(aws_sigv4_params_t){.region = "r",
                                                                         .service = "s",
                                                                         .expires_s = 0},
                                     &res, err, sizeof(err)),
                    SL_ERR_INVAL);
    CU_ASSERT_PTR_NULL(strstr(err, SECRET));
    CU_ASSERT_PTR_NULL(strstr(err, "SECRETTOKEN"));
    aws_sigv4_params_t noregion = prm;
    noregion.region = NULL;
    CU_ASSERT_EQUAL(aws_sigv4_sign(&req, &creds, &noregion, &res, err, sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(aws_sigv4_sign(&req, &creds, &prm, NULL, err, sizeof(err)), SL_ERR_INVAL);

    /* A long secret (beyond the signer's stack buffer) still signs. */
    char longsecret[300];
    memset(longsecret, 'k', sizeof(longsecret) - 1);
    longsecret[sizeof(longsecret) - 1] = '\0';
    sl_aws_creds_t lc = {"AKID", longsecret, NULL};
    CU_ASSERT_EQUAL(aws_sigv4_sign(&req, &lc, &prm, &res, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(strlen(res.signature), 64);
    aws_sigv4_result_free(&res);
}

/* Each thread keeps its own contexts and cached signing key (freed when it exits); threads
 * alternating between scopes must all get the known answer. */
static void *sign_in_thread(void *arg) {
    long *bad = arg;
    aws_sigv4_params_t prm = fixture_params();
    aws_sigv4_params_t other = prm;
    other.region = "eu-west-1";
    aws_sigv4_req_t get = {"GET", "/", "", host_only, 1, NULL, 0};
    aws_sigv4_result_t res;
    for (int i = 0; i < 200; i++) {
        if (aws_sigv4_sign(&get, &fixture_creds, i % 3 ? &prm : &other, &res, NULL, 0) != SL_OK) {
            (*bad)++;
            continue;
        }
        if (i % 3 && strcmp(res.signature,
                            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"))
            (*bad)++;
        aws_sigv4_result_free(&res);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t th[4];
    long bad[4] = {0};
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, sign_in_thread, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(bad[i], 0);
    }
}

/* Prints the cost of signing a 1 KB JSON POST (the common Kinesis PutRecords case). */
static void test_speed(void) {
    char body[1024];
    memset(body, 'x', sizeof(body));
    body[0] = '{';
    body[sizeof(body) - 1] = '}';
    const aws_sigv4_header_t h[] = {
        {"Host", "kinesis.eu-west-1.amazonaws.com"},
        {"Content-Type", "application/x-amz-json-1.1"},
        {"X-Amz-Target", "Kinesis_20131202.PutRecords"},
        {"Content-Length", "1024"},
    };
    aws_sigv4_req_t req = {"POST", "/", "", h, 4, body, sizeof(body)};
    sl_aws_creds_t creds = {"AKIDEXAMPLE", SECRET, "token"};
    aws_sigv4_params_t prm = fixture_params();
    prm.service = "kinesis";
    aws_sigv4_result_t res;
    int n = 20000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        if (aws_sigv4_sign(&req, &creds, &prm, &res, NULL, 0) != SL_OK) {
            CU_FAIL("signing failed");
            return;
        }
        aws_sigv4_result_free(&res);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n / 1e3;
    printf("\n    signing a 1 KB JSON POST: %.2f us ", us);
    CU_ASSERT(us < 1000); /* a gross regression only: sanitizers slow this a lot */
}

void test_sigv4_register(void) {
    static const unit_test_t tests[] = {
        {"aws signing test suite", test_aws_suite},
        {"REFERENCE.md known answers", test_known_answers},
        {"path normalisation and encoding", test_paths},
        {"canonical query", test_query},
        {"canonical headers and session token", test_headers},
        {"sha256 hex", test_sha256_hex},
        {"errors without secrets", test_errors},
        {"signing from several threads", test_threads},
        {"speed of a 1 KB POST", test_speed},
        {NULL, NULL},
    };
    unit_add_suite("sigv4", tests);
}
