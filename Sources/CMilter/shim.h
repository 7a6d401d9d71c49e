// Sendmail's milter API (Debian: libmilter-dev).
#include <libmilter/mfapi.h>
