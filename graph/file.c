/* file.c — whole-file reading and the one atomic writer (temporary file, write, fsync,
 * rename, fsync of the folder) that every file lmgraph writes goes through. */
#include "lmg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m)) return "a folder";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

lmg_status lmg_open_regular(const char *path, int *fd_out, uint64_t *size)
{
    *fd_out = -1;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return lmg_error(LMG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        lmg_status s = lmg_error(LMG_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lmg_error(LMG_ERR_IO, "%s: is %s; only regular files are read", path,
                         kind_of(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    if (size) *size = (uint64_t)st.st_size;
    return LMG_OK;
}

lmg_status lmg_read_file_max(const char *path, uint64_t max, char **data, size_t *n)
{
    *data = NULL;
    if (n) *n = 0;
    int fd;
    uint64_t size;
    LMG_TRY(lmg_open_regular(path, &fd, &size));
    if (size > max || size >= SIZE_MAX) {
        close(fd);
        return lmg_error(LMG_ERR_IO, "%s: %llu bytes, more than the %llu this format allows", path,
                         (unsigned long long)size, (unsigned long long)max);
    }
    /* Exactly the size fstat gave: a file that grows while it is read is cut there. */
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return lmg_error(LMG_ERR_NOMEM, "%s: out of memory reading %llu bytes", path,
                         (unsigned long long)size);
    }
    size_t len = 0;
    while (len < size) {
        size_t want = (size_t)size - len > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)size - len;
        ssize_t got = read(fd, buf + len, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            lmg_status s = lmg_error(LMG_ERR_IO, "%s: read error: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return s;
        }
        if (got == 0) break; /* shrank meanwhile */
        len += (size_t)got;
    }
    close(fd);
    buf[len] = 0;
    *data = buf;
    if (n) *n = len;
    return LMG_OK;
}

char *lmg_path_join(const char *dir, const char *name)
{
    size_t len = strlen(dir), n = len + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", name);
    return p;
}

lmg_status lmg_read_file(const char *path, char **data, size_t *n)
{
    return lmg_read_file_max(path, UINT64_MAX, data, n);
}

/* ---- the atomic writer ------------------------------------------------------------- */

/* "dir/name" -> "dir" ("." without a slash, "/" for "/name"), malloc'd. */
static char *dir_part(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Removes "<name>.tmp<PID>" (and the older "<name>.tmp", "<name>.tmp.<PID>") left beside
 * `path` by a writer that was killed: only when no process of that id is alive, so a
 * concurrent writer's file is never touched. What cannot be removed is left for later. */
static void remove_stale_temps(const char *path)
{
    char *dir = dir_part(path);
    if (!dir) return;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) {
        free(dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp", 4) != 0) continue;
        const char *p = nm + bl + 4;
        if (*p == '.') p++;
        char *end;
        errno = 0;
        long pid = *p ? strtol(p, &end, 10) : 0;
        if (*p && (*end || errno || pid <= 0)) continue;
        if (pid > 0 && (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        size_t n = strlen(dir) + strlen(nm) + 2;
        char *full = malloc(n);
        if (!full) break;
        snprintf(full, n, "%s/%s", dir, nm);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode)) (void)unlink(full);
        free(full);
    }
    closedir(d);
    free(dir);
}

lmg_status lmg_file_writer_open(lmg_file_writer *w, const char *path)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return lmg_error(LMG_ERR_IO, "%s: is %s; only regular files are written", path,
                         kind_of(st.st_mode));
    remove_stale_temps(path);
    size_t len = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp = malloc(len);
    if (!w->path || !w->tmp) {
        lmg_file_writer_abort(w);
        return lmg_error(LMG_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(w->tmp, len, "%s.tmp%ld", path, (long)getpid());
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        lmg_status s = lmg_error(LMG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        lmg_file_writer_abort(w);
        return s;
    }
    return LMG_OK;
}

void lmg_file_writer_put(lmg_file_writer *w, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0 && !w->err && w->fd >= 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t got = write(w->fd, p, chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            w->err = got < 0 ? errno : EIO;
            break;
        }
        p += got;
        n -= (size_t)got;
    }
}

lmg_status lmg_file_writer_commit(lmg_file_writer *w)
{
    if (w->fd < 0) return lmg_error(LMG_ERR_ARG, "file writer: not open");
    int err = w->err;
    if (!err && fsync(w->fd) != 0) err = errno;
    if (close(w->fd) != 0 && !err) err = errno;
    w->fd = -1;
    if (!err && rename(w->tmp, w->path) != 0) err = errno;
    if (err) {
        lmg_status s = lmg_error(LMG_ERR_IO, "%s: cannot write: %s", w->path, strerror(err));
        lmg_file_writer_abort(w);
        return s;
    }
    /* The rename reaches the disk only with its folder. */
    char *dir = dir_part(w->path);
    int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dir);
    free(w->tmp);
    free(w->path);
    w->tmp = w->path = NULL;
    return LMG_OK;
}

void lmg_file_writer_abort(lmg_file_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    w->fd = -1;
    w->tmp = w->path = NULL;
}

lmg_status lmg_write_file_atomic(const char *path, const void *data, size_t n)
{
    lmg_file_writer w;
    LMG_TRY(lmg_file_writer_open(&w, path));
    lmg_file_writer_put(&w, data, n);
    return lmg_file_writer_commit(&w);
}
