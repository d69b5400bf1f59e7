/* fuzz.h — what the libFuzzer harnesses share: a private folder for the files an input may
 * name (external weights), and a memory file that hands an input to loaders taking a path. */
#ifndef LMG_FUZZ_H
#define LMG_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the loaded object must have; a violation is a crash libFuzzer records. */
#define FUZZ_ASSERT(cond, ...)                                                              \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, "\n");                                                          \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

static char fuzz_dir_[64];

static void fuzz_dir_remove(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/w.bin", fuzz_dir_);
    unlink(p);
    rmdir(fuzz_dir_);
}

/* A folder holding w.bin (256 bytes 0..255), the only file external() and the .pb's
 * external data can reach: loaders refuse locations outside the graph's folder. */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_[0]) return fuzz_dir_;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/lmgfuzz.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir_)) {
        perror("mkdtemp");
        abort();
    }
    char p[128];
    snprintf(p, sizeof p, "%s/w.bin", fuzz_dir_);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    for (int i = 0; i < 256; i++) fputc(i, f);
    fclose(f);
    atexit(fuzz_dir_remove);
    return fuzz_dir_;
}

/* The input as a regular file in memory, for the loaders that take a path; the same
 * path every time ("/proc/self/fd/N"). */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lmgfuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("memfd write");
        abort();
    }
    return path;
}

#endif
