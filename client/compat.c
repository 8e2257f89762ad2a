/*
 * compat.c - libc facilities in portable forms (compat.h): glibc 2.31+ and musl.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture (Linux 5.9) */
#endif

pid_t kw_fork(void)
{
    /* clone(SIGCHLD, 0, ...) is fork on every architecture, whatever the order of clone's later arguments. */
    return (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0UL, 0UL, 0UL, 0UL);
}

void kw_close_from(int from)
{
    if (syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0)
        return;
    /* Linux < 5.9: the open descriptors are the entries of /proc/self/fd. getdents64 reads them without
     * allocating (opendir would). */
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        char buf[4096];
        int again = 1;
        while (again) {
            /* Closing while reading shifts the directory: read it whole from the start until nothing above
             * `from` (but dfd itself) is left. */
            again = 0;
            lseek(dfd, 0, SEEK_SET);
            long n;
            while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
                for (long off = 0; off < n;) {
                    struct dirent64_ {
                        uint64_t ino;
                        int64_t off;
                        unsigned short reclen;
                        unsigned char type;
                        char name[];
                    } *e = (struct dirent64_ *)(void *)(buf + off);
                    off += e->reclen;
                    int fd = 0;
                    const char *c = e->name;
                    if (*c < '0' || *c > '9')
                        continue;
                    for (; *c >= '0' && *c <= '9'; c++)
                        fd = fd * 10 + (*c - '0');
                    if (fd >= from && fd != dfd) {
                        close(fd);
                        again = 1;
                    }
                }
            }
            if (n < 0)
                break;
        }
        close(dfd);
        return;
    }
    /* No /proc: every descriptor below the limit. */
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536
                   ? (long)rl.rlim_cur
                   : 65536;
    for (long fd = from; fd < max; fd++)
        close((int)fd);
}

int kw_stat_mode(const char *path, mode_t *mode)
{
#if defined(__GLIBC__)
    /* statx is GLIBC_2.28; stat became GLIBC_2.33. */
    struct statx sx;
    if (statx(AT_FDCWD, path, 0, STATX_TYPE | STATX_MODE, &sx) < 0)
        return -1;
    *mode = sx.stx_mode;
    return 0;
#else
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    *mode = st.st_mode;
    return 0;
#endif
}

int kw_lstat_owner(const char *path, mode_t *mode, uid_t *uid)
{
#if defined(__GLIBC__)
    struct statx sx; /* lstat became GLIBC_2.33 too */
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE | STATX_UID, &sx) < 0)
        return -1;
    *mode = sx.stx_mode;
    *uid = sx.stx_uid;
    return 0;
#else
    struct stat st;
    if (lstat(path, &st) < 0)
        return -1;
    *mode = st.st_mode;
    *uid = st.st_uid;
    return 0;
#endif
}

static pthread_mutex_t kw_once_lock = PTHREAD_MUTEX_INITIALIZER;

void kw_once(int *flag, void (*fn)(void))
{
    pthread_mutex_lock(&kw_once_lock);
    if (!*flag) {
        fn();
        *flag = 1;
    }
    pthread_mutex_unlock(&kw_once_lock);
}

struct kw_find_object {
    uintptr_t addr;
    const char *path;
};

static int kw_find_object_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct kw_find_object *f = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        if (f->addr >= lo && f->addr < lo + ph->p_memsz) {
            f->path = info->dlpi_name;
            return 1;
        }
    }
    return 0;
}

const char *kw_object_path(const void *addr)
{
    struct kw_find_object f = {(uintptr_t)addr, NULL};
    dl_iterate_phdr(kw_find_object_cb, &f);
    return f.path && *f.path ? f.path : NULL;
}
