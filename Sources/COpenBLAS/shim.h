// OpenBLAS's CBLAS interface (Debian: libopenblas-dev) plus its openblas_* extensions.
#include <cblas.h>
