/* replay_main.c -- runs a fuzz target without libFuzzer: every file of the target's corpus
 * (LLMQ_FUZZ_CORPUS, or the paths given as arguments), then LLMQ_FUZZ_MUTATIONS (default
 * 2000) deterministic mutations of them (bit flips, byte sets, truncations, splices), so
 * every `make test` re-checks old crashes and a little new ground, with gcc too. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input { uint8_t *data; size_t size; };

static int load(const char *path, struct input *in)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    in->data = malloc(n > 0 ? (size_t)n : 1);
    in->size = n > 0 ? fread(in->data, 1, (size_t)n, f) : 0;
    fclose(f);
    return 0;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

int main(int argc, char **argv)
{
    struct input ins[4096];
    int n = 0;
    const char *dir = getenv("LLMQ_FUZZ_CORPUS");
    for (int i = 1; i < argc && n < 4096; i++)
        if (load(argv[i], &ins[n]) == 0) n++;
    if (dir && argc < 2) {
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) && n < 4096) {
            if (de->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            if (load(path, &ins[n]) == 0) n++;
        }
        if (d) closedir(d);
    }
    if (n == 0) {
        /* A target with no corpus would test nothing and still pass: refuse. */
        fprintf(stderr, "no corpus: set LLMQ_FUZZ_CORPUS or pass files\n0 passed, 1 failed\n");
        return 1;
    }
    for (int i = 0; i < n; i++) LLVMFuzzerTestOneInput(ins[i].data, ins[i].size);

    const char *m = getenv("LLMQ_FUZZ_MUTATIONS");
    long mutations = m ? atol(m) : 2000;
    uint8_t *buf = malloc(1 << 20);
    for (long k = 0; n > 0 && k < mutations; k++) {
        struct input *a = &ins[next() % (uint64_t)n], *b = &ins[next() % (uint64_t)n];
        size_t size = a->size > (1 << 20) ? (1 << 20) : a->size;
        memcpy(buf, a->data, size);
        int edits = 1 + (int)(next() % 8);
        for (int j = 0; j < edits && size; j++) {
            size_t at = next() % size;
            switch (next() % 5) {
            case 0: buf[at] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: buf[at] = (uint8_t)next(); break;
            case 2: buf[at] = (uint8_t[]){ 0, 0xff, 0x7f, 0x80, '"', '\\', '\n', '{' }[next() % 8]; break;
            case 3: size = at; break;                               /* truncate */
            case 4: if (b->size) {                                  /* splice */
                        size_t from = next() % b->size, len = b->size - from;
                        if (at + len > (1 << 20)) len = (1 << 20) - at;
                        memcpy(buf + at, b->data + from, len);
                        if (at + len > size) size = at + len;
                    } break;
            }
        }
        uint8_t *exact = malloc(size ? size : 1);   /* exact-size copy so ASan sees overreads */
        memcpy(exact, buf, size);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
    }
    free(buf);
    for (int i = 0; i < n; i++) free(ins[i].data);
    printf("%d passed, 0 failed\n", n + (int)mutations);
    return 0;
}
