/* test.h — the tiny harness every C test uses: named cases, CHECKs that report file and
 * line, one "ok - name" / "not ok - name" line per case ("ok - name # SKIP why" for a case
 * that cannot run here), and a non-zero exit on failure. */
#ifndef LMG_TEST_H
#define LMG_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int test_passed_, test_failed_, test_skipped_, test_case_failed_;
static const char *test_name_;

static inline void test_begin(const char *name)
{
    test_name_ = name;
    test_case_failed_ = 0;
}

static inline int test_check_(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) return 1;
    va_list ap;
    printf("#   %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    test_case_failed_ = 1;
    return 0;
}
#define CHECK(cond, ...) test_check_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline void test_end(void)
{
    if (test_case_failed_) test_failed_++;
    else test_passed_++;
    printf("%s - %s\n", test_case_failed_ ? "not ok" : "ok", test_name_);
    fflush(stdout);
}

/* A case that cannot run on this machine (no device, no tool): reported as skipped, TAP's
 * "ok - name # SKIP why", which tests/run.sh counts apart from the passes. */
static inline void test_skip(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("ok - %s # SKIP ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    test_skipped_++;
}

/* Returns the process exit code: 0 only when every case passed or was skipped. */
static inline int test_summary(void)
{
    printf("# %d passed, %d failed, %d skipped\n", test_passed_, test_failed_, test_skipped_);
    return test_failed_ ? 1 : 0;
}

/* test_summary, then remove the test's scratch folder `dir` when everything passed (it
 * stays for a look when something failed). */
static inline int test_finish(const char *dir)
{
    int rc = test_summary();
    if (rc == 0 && dir && dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc;
}

#endif
