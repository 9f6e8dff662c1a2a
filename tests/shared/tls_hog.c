/* A library with an initial-exec thread-local, as many dlopen'ed libraries have: each one
 * loaded late takes SPANRING_HOG_BYTES of glibc's static-TLS surplus, until none is left. */
#define SPANRING_HOG_SYMBOL_(n) spanring_tls_hog_##n
#define SPANRING_HOG_SYMBOL(n) SPANRING_HOG_SYMBOL_(n)

__attribute__((tls_model("initial-exec"))) __thread char spanring_hog_tls[SPANRING_HOG_BYTES];

char* SPANRING_HOG_SYMBOL(SPANRING_HOG_INDEX)(void) { return spanring_hog_tls; }
