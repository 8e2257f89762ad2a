/*
 * trust.c - the client's trust in its environment and in the daemon that answers on the socket.
 *
 * Environment: a library loaded by a setuid or setgid program (or one with file capabilities) must not let the
 * invoking user steer it: KEYWARD_SOCKET, KEYWARD_DAEMON, XDG_RUNTIME_DIR, KEYWARD_DEBUG ... are then ignored, and
 * conn.c does not start a daemon.
 *
 * Socket: without XDG_RUNTIME_DIR the user-mode socket lies in /tmp/keyward-UID, a name any local user can
 * create first. The directory must be ours and private before the client connects or starts a daemon there,
 * and after connecting the daemon's uid (SO_PEERCRED) must be one the client trusts; otherwise the client acts
 * as if no daemon answered, and says why on stderr under KEYWARD_DEBUG.
 */
#include "trust.h"

#include "compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

int kw_privileged(void)
{
    return getauxval(AT_SECURE) != 0 || geteuid() != getuid() || getegid() != getgid();
}

const char *kw_getenv(const char *name)
{
    if (kw_privileged())
        return NULL;
#ifdef __GLIBC__
    return secure_getenv(name);
#else
    return getenv(name);
#endif
}

unsigned long kw_self_uid(void)
{
    return (unsigned long)geteuid();
}

int kw_check_private_dir(const char *dir, char *why, size_t whylen)
{
    mode_t mode;
    uid_t uid;
    if (kw_lstat_owner(dir, &mode, &uid) < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(why, whylen, "socket directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(mode)) {
        snprintf(why, whylen, "socket directory %s is not a directory (a symlink or another file): refusing it", dir);
        return -1;
    }
    if (uid != geteuid() || (mode & 077) != 0) {
        snprintf(why, whylen, "socket directory %s belongs to uid %lu with mode %04o, want uid %lu and 0700: refusing it",
                 dir, (unsigned long)uid, (unsigned)(mode & 07777), (unsigned long)geteuid());
        return -1;
    }
    return 0;
}

/* The owner of path's directory, when it is a real directory that no one but its owner may write. */
static int kw_dir_owner(const char *socket_path, uid_t *owner)
{
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s", socket_path);
    if (n < 0 || (size_t)n >= sizeof dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    mode_t mode;
    if (kw_lstat_owner(dir, &mode, owner) < 0 || !S_ISDIR(mode) || (mode & 022) != 0)
        return -1;
    return 0;
}

int kw_check_peer(int fd, const char *socket_path, char *why, size_t whylen)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred) {
        snprintf(why, whylen, "cannot learn the daemon's uid (SO_PEERCRED): %s", strerror(errno));
        return -1;
    }
    uid_t owner;
    if (cred.uid == 0 || cred.uid == geteuid() || (!kw_privileged() && cred.uid == getuid()) ||
        (kw_dir_owner(socket_path, &owner) == 0 && cred.uid == owner))
        return 0;
    snprintf(why, whylen, "the process answering on %s runs as uid %lu, not as us, root or the socket directory's owner: refusing it",
             socket_path, (unsigned long)cred.uid);
    return -1;
}
