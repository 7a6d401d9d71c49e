// epoll, eventfd and malloc_trim: Linux declarations that Swift's Glibc module leaves out.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/types.h>
// malloc_trim (glibc): hand freed heap memory back to the system, where a measurement of resident memory needs it.
#include <malloc.h>

// The layout of `struct ucred` (SO_PEERCRED), which glibc declares only under _GNU_SOURCE; defining that here
// would make these headers disagree with Swift's Glibc module.
struct spamguard_peer_credentials {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};
