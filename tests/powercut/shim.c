/*
 * A power-cut recorder, loaded with LD_PRELOAD into a credledger process by
 * tests/powercut.rs. It intercepts fsync(2) and fdatasync(2) only: at each one on a file
 * or directory under $POWERCUT_DIR it records what that call makes durable, before the
 * real call, into an append-only journal at $POWERCUT_JOURNAL:
 *
 *   - for a regular file: the 4 KiB blocks that differ from the file's last recorded
 *     state, and its size (the file is identified by its inode, so renames do not matter);
 *   - for a directory: its whole listing (name, inode, type), which is what a directory
 *     sync makes durable.
 *
 * Nothing else is recorded: writes that are never synced (and sync_file_range(2), which
 * does not survive a power cut) are exactly what a power cut may lose. The test rebuilds
 * the directory as a power cut at any journal offset would leave it (per POSIX: a file's
 * name is durable only after its directory was synced, its contents only after the file
 * was) and checks that every append acknowledged before that offset is there.
 *
 * Journal records (little endian), each written with one write(2) under a lock:
 *   'F' u64 inode, u64 size, u32 nblocks, nblocks x (u64 offset, 4096 bytes)
 *   'D' u16 pathlen, path (relative to $POWERCUT_DIR, "" for itself), u32 n,
 *       n x (u64 inode, u8 is_dir, u16 namelen, name)
 *
 * The content is captured before the real sync is called, so the journal never claims
 * more than the sync covered; it is appended before the call returns, so anything the
 * program acknowledged after the sync is covered by a record before the acknowledgement.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int journal = -1;
static char root[PATH_MAX];
static size_t root_len;
static char shadow_dir[PATH_MAX - 32];

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
}

static int init(void) {
    if (journal >= 0) return 1;
    const char *dir = getenv("POWERCUT_DIR");
    const char *out = getenv("POWERCUT_JOURNAL");
    if (!dir || !out) return 0;
    if (!realpath(dir, root)) return 0;
    root_len = strlen(root);
    snprintf(shadow_dir, sizeof shadow_dir, "%s.shadow", out);
    mkdir(shadow_dir, 0700);
    journal = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    return journal >= 0;
}

/* The path of fd relative to the root, or NULL when it is outside. */
static const char *relative(int fd, char *path) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, PATH_MAX - 1);
    if (n < 0) return NULL;
    path[n] = 0;
    if (strncmp(path, root, root_len) != 0) return NULL;
    if (path[root_len] == 0) return path + root_len;
    if (path[root_len] != '/') return NULL;
    return path + root_len + 1;
}

static void record_file(int wfd, const struct stat *st) {
    /* The program's descriptor may be write-only: read through a descriptor of our own. */
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", wfd);
    int fd = open(link, O_RDONLY | O_CLOEXEC);
    if (fd < 0) abort();
    char shadow_path[PATH_MAX + 32];
    snprintf(shadow_path, sizeof shadow_path, "%s/%llu", shadow_dir,
             (unsigned long long)st->st_ino);
    int shadow = open(shadow_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (shadow < 0) abort();
    struct buf body = {0};
    uint32_t nblocks = 0;
    char cur[BLOCK], old[BLOCK];
    uint64_t size = (uint64_t)st->st_size;
    for (uint64_t off = 0; off < size; off += BLOCK) {
        ssize_t n = pread(fd, cur, BLOCK, (off_t)off);
        if (n < 0) abort();
        memset(cur + n, 0, BLOCK - (size_t)n);
        ssize_t m = pread(shadow, old, BLOCK, (off_t)off);
        if (m < 0) abort();
        if (m < BLOCK) memset(old + m, 0, BLOCK - (size_t)m);
        if (m < n || memcmp(cur, old, BLOCK) != 0) {
            put(&body, &off, 8);
            put(&body, cur, BLOCK);
            nblocks++;
            if (pwrite(shadow, cur, BLOCK, (off_t)off) != BLOCK) abort();
        }
    }
    if (ftruncate(shadow, (off_t)size) != 0) abort();
    close(shadow);
    close(fd);
    struct buf rec = {0};
    uint64_t ino = (uint64_t)st->st_ino;
    put(&rec, "F", 1);
    put(&rec, &ino, 8);
    put(&rec, &size, 8);
    put(&rec, &nblocks, 4);
    if (body.len) put(&rec, body.p, body.len);
    write_all(journal, rec.p, rec.len);
    free(body.p);
    free(rec.p);
}

static void record_dir(int fd, const char *rel) {
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct buf entries = {0};
    uint32_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        uint64_t ino = (uint64_t)st.st_ino;
        uint8_t is_dir = S_ISDIR(st.st_mode) ? 1 : 0;
        uint16_t len = (uint16_t)strlen(e->d_name);
        put(&entries, &ino, 8);
        put(&entries, &is_dir, 1);
        put(&entries, &len, 2);
        put(&entries, e->d_name, len);
        n++;
    }
    closedir(d);
    struct buf rec = {0};
    uint16_t plen = (uint16_t)strlen(rel);
    put(&rec, "D", 1);
    put(&rec, &plen, 2);
    put(&rec, rel, plen);
    put(&rec, &n, 4);
    if (entries.len) put(&rec, entries.p, entries.len);
    write_all(journal, rec.p, rec.len);
    free(entries.p);
    free(rec.p);
}

static void record(int fd) {
    int saved = errno;
    pthread_mutex_lock(&lock);
    if (init()) {
        char path[PATH_MAX];
        const char *rel = relative(fd, path);
        struct stat st;
        if (rel && fstat(fd, &st) == 0) {
            if (S_ISREG(st.st_mode)) record_file(fd, &st);
            else if (S_ISDIR(st.st_mode)) record_dir(fd, rel);
        }
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    record(fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    record(fd);
    return real(fd);
}
