/*
 * A full-disk simulator, loaded with LD_PRELOAD into a credledger process by
 * tests/crash.rs. While the file $DISKFULL_FLAG exists, every write, sync, truncate or
 * allocation on a file under $DISKFULL_DIR fails with ENOSPC, as on a full disk; files
 * elsewhere (stdout, stderr, sockets) are untouched. Removing the flag "frees space".
 * With $DISKFULL_HANG set, syncs instead block while the flag exists (a disk that stops
 * answering), and writes succeed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int full(int fd) {
    const char *flag = getenv("DISKFULL_FLAG");
    const char *dir = getenv("DISKFULL_DIR");
    if (!flag || !dir || access(flag, F_OK) != 0) return 0;
    char root[PATH_MAX], link[64], path[PATH_MAX];
    if (!realpath(dir, root)) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = 0;
    size_t len = strlen(root);
    return strncmp(path, root, len) == 0 && (path[len] == '/' || path[len] == 0);
}

/* In hang mode, blocks while the disk is "stuck". */
static void hang_while_full(int fd) {
    while (getenv("DISKFULL_HANG") && full(fd)) sleep(1);
}

#define REAL(name, ret, ...) \
    static ret (*real)(__VA_ARGS__); \
    if (!real) real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

#define FAIL_IF_FULL(fd) \
    do { \
        if (!getenv("DISKFULL_HANG") && full(fd)) { \
            errno = ENOSPC; \
            return -1; \
        } \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL("write", ssize_t, int, const void *, size_t);
    FAIL_IF_FULL(fd);
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL("pwrite", ssize_t, int, const void *, size_t, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL("pwrite64", ssize_t, int, const void *, size_t, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL("writev", ssize_t, int, const struct iovec *, int);
    FAIL_IF_FULL(fd);
    return real(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    REAL("pwritev", ssize_t, int, const struct iovec *, int, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
    REAL("pwritev64", ssize_t, int, const struct iovec *, int, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, iov, cnt, off);
}

int fsync(int fd) {
    REAL("fsync", int, int);
    hang_while_full(fd);
    FAIL_IF_FULL(fd);
    return real(fd);
}

int fdatasync(int fd) {
    REAL("fdatasync", int, int);
    hang_while_full(fd);
    FAIL_IF_FULL(fd);
    return real(fd);
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags) {
    REAL("sync_file_range", int, int, off_t, off_t, unsigned int);
    hang_while_full(fd);
    FAIL_IF_FULL(fd);
    return real(fd, off, n, flags);
}

int ftruncate(int fd, off_t len) {
    REAL("ftruncate", int, int, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, len);
}

int ftruncate64(int fd, off_t len) {
    REAL("ftruncate64", int, int, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len) {
    REAL("fallocate", int, int, int, off_t, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len) {
    REAL("fallocate64", int, int, int, off_t, off_t);
    FAIL_IF_FULL(fd);
    return real(fd, mode, off, len);
}
