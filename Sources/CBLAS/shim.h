// OpenBLAS's CBLAS interface (Debian libopenblas-dev). `openblas` rather than the generic `blas`
// so that openblas_set_num_threads is available.
#include <cblas.h>
