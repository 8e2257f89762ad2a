/*
 * compat.h - the few libc facilities the client needs, in forms that glibc 2.31 (Debian 11, Yocto kirkstone)
 * and musl provide: the built library must not need a symbol version newer than GLIBC_2.31 (glibc 2.33 made
 * stat a symbol of its own, 2.34 moved dladdr and pthread_once into libc and added close_range and _Fork).
 * tests/cross.sh checks the versions with objdump -T.
 */
#ifndef KEYWARD_COMPAT_H
#define KEYWARD_COMPAT_H

#include <sys/types.h>

/* fork without running the atfork handlers (what _Fork does): a raw clone with SIGCHLD. The child may only make
 * async-signal-safe calls. */
pid_t kw_fork(void);

/* Close every descriptor from `from` up: close_range through syscall(), then /proc/self/fd, then a loop up to
 * the descriptor limit. Async-signal-safe (no allocation). */
void kw_close_from(int from);

/* The file type and permission bits of path (stat's st_mode, following links). 0 or -1 with errno. */
int kw_stat_mode(const char *path, mode_t *mode);

/* The file type and permission bits and the owner of path itself (lstat's st_mode and st_uid: a symlink is
 * not followed). 0 or -1 with errno. */
int kw_lstat_owner(const char *path, mode_t *mode, uid_t *uid);

/* Run fn once per process (pthread_once's job; *flag starts at 0). */
void kw_once(int *flag, void (*fn)(void));

/* The path of the loaded object that holds addr (dladdr's dli_fname), or NULL. */
const char *kw_object_path(const void *addr);

#endif
