/*
 * trust.h - what the client trusts: its environment only when it runs unprivileged, and a daemon only when the
 * socket's directory and the peer's uid say it is the right one (docs/security.md, "Who answers on the socket").
 */
#ifndef KEYWARD_TRUST_H
#define KEYWARD_TRUST_H

#include <stddef.h>

/* Whether the process runs with privileges its invoker does not have: AT_SECURE (setuid, setgid, file
 * capabilities) or an effective uid or gid other than the real one. */
int kw_privileged(void);

/* getenv for the library's variables: NULL in a privileged process (secure_getenv, and the same check where
 * the C library has none). */
const char *kw_getenv(const char *name);

/* The uid the default socket path is made for (the effective uid). */
unsigned long kw_self_uid(void);

/* Check a socket directory the client made the path of itself (the user-mode default): it must be a directory
 * (not a symlink), owned by the effective uid, with no permission for group or others. Returns 0 when it is,
 * 1 when it does not exist, -1 (why says why) otherwise. */
int kw_check_private_dir(const char *dir, char *why, size_t whylen);

/* Check the daemon on a connected socket (SO_PEERCRED): its uid must be the effective uid, root, or the owner
 * of the socket's directory when that directory is a real directory nobody else may write (the service user
 * that owns /run/keyward, or whoever owns the directory KEYWARD_SOCKET names). The real uid counts as ours only
 * in an unprivileged process. Returns 0 when trusted, -1 (why says why) otherwise. */
int kw_check_peer(int fd, const char *socket_path, char *why, size_t whylen);

#endif
