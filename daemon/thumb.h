/*
 * thumb.h — thumbnails for the gallery: any image an engine makes (PNG, JPEG
 * or WebP), made smaller and encoded as PNG.
 *
 * DESIGN
 * The format is known from the bytes (their magic), never from a name.  The
 * image is decoded to 8-bit RGBA (libpng's simplified API, libjpeg with a
 * memory source and DCT scaling so a large JPEG is decoded at a fraction of
 * its size, libwebp), each output pixel is the average of the source pixels
 * it covers (a box filter: no aliasing, no ringing), and the result is
 * encoded with libpng.  Nothing is kept between calls; the caller caches the
 * PNG on disk (api/images.c).
 */
#ifndef KILN_THUMB_H
#define KILN_THUMB_H

#include <stddef.h>

/* Images with more pixels than this are not decoded (a thumbnail is refused). */
#define THUMB_MAX_PIXELS (40u * 1000 * 1000)

/*
 * Makes a PNG whose long side is at most max_side (an image already that
 * small keeps its size).  *png is malloc'd; 0, or -1 with a message in err
 * (unknown format, damaged image, too many pixels, out of memory).
 */
int thumb_make(const unsigned char *data, size_t len, unsigned max_side,
	       unsigned char **png, size_t *png_len, unsigned *width, unsigned *height,
	       char *err, size_t errlen);

#endif
