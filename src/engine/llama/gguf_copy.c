/* gguf_copy.c -- gguf_copy_data (see gguf.h): the tensor data section in huge pages.
 * pread, not memcpy from the mapping: the kernel copies straight from the page cache, and
 * the mapping's 4 KB pages are never faulted in (no 400k page faults for a 1.5 GB model). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/llama/gguf.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14; older kernels say EINVAL and we touch instead */
#endif

#define HUGE_PAGE ((size_t)2 << 20)
#define READ_CHUNK ((size_t)64 << 20)

/* 0 when transparent huge pages are switched off ("[never]"), 1 otherwise (also when the
 * file is missing: madvise then simply does nothing). */
static int thp_enabled(void)
{
    char buf[128] = { 0 };
    FILE *fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!fp) return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = 0;
    return strstr(buf, "[never]") == NULL;
}

int gguf_copy_data(struct gguf_file *f, const char *path, size_t max_bytes, struct err *e)
{
    if (f->copy) return 1;
    size_t data_off = (size_t)(f->data - f->base), size = f->size - data_off;
    if (size == 0 || size > max_bytes || !thp_enabled()) return 0;

    /* Over-allocate by one huge page and align by hand: mmap gives 4 KB alignment only, and
     * a region that does not start on a 2 MB boundary loses its first and last huge page. */
    size_t len = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return err_set(e, -errno, "%s: cannot allocate %zu MB for the weights: %s", path,
                                          size >> 20, strerror(errno));
    uint8_t *dst = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    int huge = madvise(dst, len - (size_t)(dst - raw), MADV_HUGEPAGE) == 0;
    /* Fault the pages in before reading into them: pread into untouched memory took 2.8 s
     * for 1.5 GB here (the faults are taken one by one inside the copy), populating first
     * 0.23 s and the pread after it 0.35 s. */
    if (madvise(dst, size, MADV_POPULATE_WRITE) != 0)
        for (size_t o = 0; o < size; o += 4096) ((volatile uint8_t *)dst)[o] = 0;

    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = err_set(e, -errno, "%s: %s", path, strerror(errno));
        goto fail;
    }
    posix_fadvise(fd, (off_t)data_off, (off_t)size, POSIX_FADV_SEQUENTIAL);
    for (size_t done = 0; done < size;) {
        size_t want = size - done < READ_CHUNK ? size - done : READ_CHUNK;
        ssize_t got = pread(fd, dst + done, want, (off_t)(data_off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            /* the file shrank or failed under us after it was validated */
            rc = err_set(e, got < 0 ? -errno : LLMQ_EFORMAT, "%s: reading the weights at byte %zu: %s", path,
                         data_off + done, got < 0 ? strerror(errno) : "unexpected end of file");
            close(fd);
            goto fail;
        }
        done += (size_t)got;
    }
    close(fd);

    for (uint64_t i = 0; i < f->n_tensors; i++)
        f->tensors[i].data = dst + ((const uint8_t *)f->tensors[i].data - f->data);
    f->data = dst;
    f->copy = raw;
    f->copy_size = len;
    f->copy_huge = huge;
    return 1;
fail:
    munmap(raw, len);
    return rc;
}
