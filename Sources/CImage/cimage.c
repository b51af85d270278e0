// CImage: see include/cimage.h. libjpeg errors unwind with longjmp to the entry point that set them up;
// libpng's simplified API reports errors through its png_image.message.
#include "cimage.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

static void set_err(char *err, const char *msg) {
    if (!err) return;
    snprintf(err, CIMAGE_ERR_LEN, "%s", msg);
}

int cimage_sniff(const uint8_t *data, size_t len) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return CIMAGE_FORMAT_JPEG;
    if (len >= 8 && memcmp(data, png_sig, 8) == 0) return CIMAGE_FORMAT_PNG;
    return CIMAGE_FORMAT_NONE;
}

// ---------------------------------------------------------------------------------------------------------
// JPEG

struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char *err;
    int truncated;
};

static void jpeg_fail(j_common_ptr cinfo) {
    struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    set_err(g->err, buf);
    longjmp(g->jump, 1);
}

static void jpeg_note(j_common_ptr cinfo, int level) {
    // Warnings (level -1): libjpeg would pad a truncated stream with grey; we refuse it like PIL does.
    struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) g->truncated = 1;
}

static void jpeg_setup(struct jpeg_decompress_struct *cinfo, struct jpeg_guard *g, char *err) {
    memset(g, 0, sizeof(*g));
    cinfo->err = jpeg_std_error(&g->mgr);
    g->mgr.error_exit = jpeg_fail;
    g->mgr.emit_message = jpeg_note;
    g->err = err;
}

static void jpeg_configure(struct jpeg_decompress_struct *cinfo, int denom) {
    cinfo->scale_num = 1;
    cinfo->scale_denom = (unsigned)(denom == 2 || denom == 4 || denom == 8 ? denom : 1);
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    if (cinfo->num_components == 4) {
        cinfo->out_color_space = JCS_CMYK;
    } else {
        cinfo->out_color_space = JCS_RGB;
    }
}

static int probe_jpeg(const uint8_t *data, size_t len, int denom, int *width, int *height, char *err) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_guard g;
    jpeg_setup(&cinfo, &g, err);
    jpeg_create_decompress(&cinfo);
    if (setjmp(g.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return CIMAGE_CORRUPT;
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components != 1 && cinfo.num_components != 3 && cinfo.num_components != 4) {
        set_err(err, "unsupported number of JPEG components");
        jpeg_destroy_decompress(&cinfo);
        return CIMAGE_CORRUPT;
    }
    jpeg_configure(&cinfo, denom);
    jpeg_calc_output_dimensions(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    if (*width <= 0 || *height <= 0 || *width > CIMAGE_MAX_SIDE || *height > CIMAGE_MAX_SIDE) {
        set_err(err, "JPEG dimensions out of range");
        return CIMAGE_TOO_LARGE;
    }
    return CIMAGE_OK;
}

static inline uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static int decode_jpeg(const uint8_t *data, size_t len, int denom, uint8_t *out, size_t cap, int width,
                       int height, char *err) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_guard g;
    uint8_t *volatile row4 = NULL;
    jpeg_setup(&cinfo, &g, err);
    jpeg_create_decompress(&cinfo);
    if (setjmp(g.jump)) {
        free(row4);
        jpeg_destroy_decompress(&cinfo);
        return CIMAGE_CORRUPT;
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    jpeg_configure(&cinfo, denom);
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != width || (int)cinfo.output_height != height ||
        (size_t)width * (size_t)height * 3 > cap) {
        set_err(err, "JPEG output size differs from the probe or exceeds the buffer");
        jpeg_destroy_decompress(&cinfo);
        return CIMAGE_TOO_LARGE;
    }
    const int cmyk = cinfo.out_color_space == JCS_CMYK;
    const int inverted = cmyk && cinfo.saw_Adobe_marker;
    if (cmyk) {
        row4 = malloc((size_t)width * 4);
        if (!row4) {
            set_err(err, "out of memory");
            jpeg_destroy_decompress(&cinfo);
            return CIMAGE_CORRUPT;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out + (size_t)cinfo.output_scanline * (size_t)width * 3;
        if (!cmyk) {
            JSAMPROW rows[1] = {dst};
            jpeg_read_scanlines(&cinfo, rows, 1);
        } else {
            JSAMPROW rows[1] = {row4};
            jpeg_read_scanlines(&cinfo, rows, 1);
            for (int x = 0; x < width; x++) {
                unsigned c = row4[4 * x], m = row4[4 * x + 1], y = row4[4 * x + 2], k = row4[4 * x + 3];
                if (inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
                int nk = 255 - (int)k;
                int r = nk - muldiv255(c, (unsigned)nk), gg = nk - muldiv255(m, (unsigned)nk),
                    b = nk - muldiv255(y, (unsigned)nk);
                dst[3 * x] = (uint8_t)(r < 0 ? 0 : r);
                dst[3 * x + 1] = (uint8_t)(gg < 0 ? 0 : gg);
                dst[3 * x + 2] = (uint8_t)(b < 0 ? 0 : b);
            }
        }
        if (g.truncated) {
            set_err(err, "premature end of JPEG data (truncated file)");
            free(row4);
            jpeg_destroy_decompress(&cinfo);
            return CIMAGE_CORRUPT;
        }
    }
    jpeg_finish_decompress(&cinfo);
    free(row4);
    jpeg_destroy_decompress(&cinfo);
    if (g.truncated) {
        set_err(err, "premature end of JPEG data (truncated file)");
        return CIMAGE_CORRUPT;
    }
    return CIMAGE_OK;
}

// ---------------------------------------------------------------------------------------------------------
// PNG (libpng simplified API; alpha is read and dropped, as PIL's RGBA -> RGB conversion does)

static int probe_png(const uint8_t *data, size_t len, int *width, int *height, char *err) {
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        set_err(err, img.message);
        png_image_free(&img);
        return CIMAGE_CORRUPT;
    }
    *width = (int)img.width;
    *height = (int)img.height;
    png_image_free(&img);
    if (*width <= 0 || *height <= 0 || *width > CIMAGE_MAX_SIDE || *height > CIMAGE_MAX_SIDE) {
        set_err(err, "PNG dimensions out of range");
        return CIMAGE_TOO_LARGE;
    }
    return CIMAGE_OK;
}

static int decode_png(const uint8_t *data, size_t len, uint8_t *out, size_t cap, int width, int height,
                      char *err) {
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        set_err(err, img.message);
        png_image_free(&img);
        return CIMAGE_CORRUPT;
    }
    if ((int)img.width != width || (int)img.height != height || (size_t)width * (size_t)height * 3 > cap) {
        set_err(err, "PNG size differs from the probe or exceeds the buffer");
        png_image_free(&img);
        return CIMAGE_TOO_LARGE;
    }
    img.format = PNG_FORMAT_RGBA;
    uint8_t *rgba = malloc((size_t)width * (size_t)height * 4);
    if (!rgba) {
        set_err(err, "out of memory");
        png_image_free(&img);
        return CIMAGE_CORRUPT;
    }
    if (!png_image_finish_read(&img, NULL, rgba, 0, NULL)) {
        set_err(err, img.message);
        free(rgba);
        png_image_free(&img);
        return CIMAGE_CORRUPT;
    }
    size_t n = (size_t)width * (size_t)height;
    for (size_t i = 0; i < n; i++) {
        out[3 * i] = rgba[4 * i];
        out[3 * i + 1] = rgba[4 * i + 1];
        out[3 * i + 2] = rgba[4 * i + 2];
    }
    free(rgba);
    png_image_free(&img);
    return CIMAGE_OK;
}

// ---------------------------------------------------------------------------------------------------------

int cimage_probe(const uint8_t *data, size_t len, int denom, int *format, int *width, int *height, char *err) {
    *format = cimage_sniff(data, len);
    *width = 0;
    *height = 0;
    switch (*format) {
    case CIMAGE_FORMAT_JPEG: return probe_jpeg(data, len, denom, width, height, err);
    case CIMAGE_FORMAT_PNG: return probe_png(data, len, width, height, err);
    default:
        set_err(err, len == 0 ? "empty file" : "not a JPEG or PNG file (unrecognised signature)");
        return CIMAGE_UNKNOWN_FORMAT;
    }
}

int cimage_decode(const uint8_t *data, size_t len, int denom, uint8_t *out, size_t cap, int width, int height,
                  char *err) {
    switch (cimage_sniff(data, len)) {
    case CIMAGE_FORMAT_JPEG: return decode_jpeg(data, len, denom, out, cap, width, height, err);
    case CIMAGE_FORMAT_PNG: return decode_png(data, len, out, cap, width, height, err);
    default:
        set_err(err, len == 0 ? "empty file" : "not a JPEG or PNG file (unrecognised signature)");
        return CIMAGE_UNKNOWN_FORMAT;
    }
}

struct jpeg_cguard {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char *err;
};

static void jpeg_cfail(j_common_ptr cinfo) {
    struct jpeg_cguard *g = (struct jpeg_cguard *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    set_err(g->err, buf);
    longjmp(g->jump, 1);
}

int cimage_encode_jpeg(const uint8_t *rgb, int width, int height, int quality, uint8_t **out, size_t *outLen,
                       char *err) {
    struct jpeg_compress_struct cinfo;
    struct jpeg_cguard g;
    unsigned char *volatile buf = NULL;
    unsigned long size = 0;
    *out = NULL;
    *outLen = 0;
    if (width <= 0 || height <= 0 || width > CIMAGE_MAX_SIDE || height > CIMAGE_MAX_SIDE) {
        set_err(err, "image dimensions out of range for JPEG");
        return CIMAGE_TOO_LARGE;
    }
    memset(&g, 0, sizeof(g));
    cinfo.err = jpeg_std_error(&g.mgr);
    g.mgr.error_exit = jpeg_cfail;
    g.err = err;
    jpeg_create_compress(&cinfo);
    if (setjmp(g.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buf);
        return CIMAGE_CORRUPT;
    }
    unsigned char *mem = NULL;
    jpeg_mem_dest(&cinfo, &mem, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row[1] = {(JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3)};
        jpeg_write_scanlines(&cinfo, row, 1);
    }
    jpeg_finish_compress(&cinfo);
    buf = mem;
    jpeg_destroy_compress(&cinfo);
    *out = buf;
    *outLen = size;
    return CIMAGE_OK;
}

int cimage_read_gzip(const char *path, uint8_t **out, size_t *outLen, char *err) {
    *out = NULL;
    *outLen = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        set_err(err, "cannot open file");
        return CIMAGE_IO;
    }
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        gzclose(f);
        set_err(err, "out of memory");
        return CIMAGE_IO;
    }
    for (;;) {
        if (n == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                gzclose(f);
                set_err(err, "out of memory");
                return CIMAGE_IO;
            }
            buf = bigger;
            cap *= 2;
        }
        int chunk = (int)((cap - n) > (1u << 30) ? (1u << 30) : (cap - n));
        int got = gzread(f, buf + n, (unsigned)chunk);
        if (got < 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            set_err(err, msg ? msg : "gzip read error");
            free(buf);
            gzclose(f);
            return CIMAGE_CORRUPT;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    gzclose(f);
    *out = buf;
    *outLen = n;
    return CIMAGE_OK;
}

void cimage_free(void *p) { free(p); }

// PNG encoding through libpng's simplified write API (two passes: size, then bytes).
int cimage_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *outLen, char *err) {
    *out = NULL;
    *outLen = 0;
    if (width <= 0 || height <= 0 || width > CIMAGE_MAX_SIDE || height > CIMAGE_MAX_SIDE) {
        set_err(err, "image dimensions out of range for PNG");
        return CIMAGE_TOO_LARGE;
    }
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, NULL, &size, 0, rgb, width * 3, NULL)) {
        set_err(err, img.message);
        png_image_free(&img);
        return CIMAGE_CORRUPT;
    }
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        set_err(err, "out of memory");
        return CIMAGE_TOO_LARGE;
    }
    if (!png_image_write_to_memory(&img, buf, &size, 0, rgb, width * 3, NULL)) {
        set_err(err, img.message);
        png_image_free(&img);
        free(buf);
        return CIMAGE_CORRUPT;
    }
    *out = buf;
    *outLen = size;
    return CIMAGE_OK;
}
