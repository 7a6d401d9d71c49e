// sd_notify and friends (Debian: libsystemd-dev).
#include <systemd/sd-daemon.h>
