// CImage — JPEG (libjpeg-turbo) and PNG (libpng) decoding/encoding to 8-bit RGB, and gzip reading (zlib),
// for MugsData. C because libjpeg reports fatal errors by longjmp, which Swift cannot catch.
// Every function returns 0 on success or a negative CIMAGE_* code, with a message in `err` (NUL-terminated,
// at most CIMAGE_ERR_LEN bytes). No function aborts the process or prints.
#ifndef CIMAGE_H
#define CIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define CIMAGE_ERR_LEN 200

enum {
    CIMAGE_OK = 0,
    CIMAGE_UNKNOWN_FORMAT = -1, // neither JPEG nor PNG signature (empty, text, other formats)
    CIMAGE_CORRUPT = -2,        // decoder error: truncated, bad marker/CRC, unsupported variant
    CIMAGE_TOO_LARGE = -3,      // dimensions beyond CIMAGE_MAX_SIDE or the caller's buffer
    CIMAGE_IO = -4,             // file could not be read / written
};

#define CIMAGE_MAX_SIDE 65500

enum { CIMAGE_FORMAT_NONE = 0, CIMAGE_FORMAT_JPEG = 1, CIMAGE_FORMAT_PNG = 2 };

/// The format named by the first bytes (magic numbers), not by the file name.
int cimage_sniff(const uint8_t *data, size_t len);

/// Reads the header and reports the output size after DCT scaling by 1/`denom` (1, 2, 4 or 8; JPEG only,
/// PNG ignores it and reports its full size). `format` receives CIMAGE_FORMAT_*.
int cimage_probe(const uint8_t *data, size_t len, int denom, int *format, int *width, int *height, char *err);

/// Decodes into `out` (interleaved RGB, row stride width*3, capacity `cap` bytes). `width`/`height` must be
/// the values cimage_probe returned for the same `denom`. Grayscale and palette become RGB, alpha is dropped
/// (as PIL's convert("RGB")), CMYK/YCCK JPEGs use PIL's CMYK→RGB rule (Adobe files are inverted).
/// A JPEG that ends early is an error (PIL refuses truncated images by default).
int cimage_decode(const uint8_t *data, size_t len, int denom, uint8_t *out, size_t cap, int width, int height,
                  char *err);

/// Encodes interleaved RGB (stride width*3) as a baseline JPEG (4:2:0) of the given quality (1...100) into a
/// malloc'd buffer; the caller frees *out with cimage_free.
int cimage_encode_jpeg(const uint8_t *rgb, int width, int height, int quality, uint8_t **out, size_t *outLen,
                       char *err);

/// Encodes interleaved RGB (stride width*3) as an 8-bit RGB PNG into a malloc'd buffer; the caller frees *out
/// with cimage_free.
int cimage_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *outLen, char *err);

/// Reads a whole gzip (or plain) file into a malloc'd buffer; the caller frees *out with cimage_free.
int cimage_read_gzip(const char *path, uint8_t **out, size_t *outLen, char *err);

void cimage_free(void *p);

#endif
