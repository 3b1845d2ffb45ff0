/* seed_protobuf <dir> <vector.json>...: writes the protobuf target's seeds.
 * Each JSON vector that decodes (by its name: pull_request*, pull_response*,
 * push_request*, push_response*, changes*) is encoded with the protobuf
 * codec into <dir>/<name>.pb, after the byte naming its message
 * (fuzz_protobuf.h); pull responses and changes also go as stream batches.
 * Vectors that do not decode (tests/vectors/invalid) are skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_protobuf.h"
#include "grove/codec.h"
#include "grove/json.h"

static int seed_write(const char *dir, const char *name, const char *suffix, enum fuzz_pb_kind kind,
                      const struct grove_buf *pb)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.pb", dir, name, suffix);
    FILE *f = fopen(path, "wb");
    unsigned char k = (unsigned char)kind;
    if (!f || fwrite(&k, 1, 1, f) != 1 || fwrite(pb->data, 1, pb->len, f) != pb->len ||
        fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static char *seed_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = malloc(1 << 20);
    *len = text ? fread(text, 1, 1 << 20, f) : 0;
    fclose(f);
    return text;
}

/* Encodes one vector; 0 when written or skipped. */
static int seed_one(const char *dir, const char *path)
{
    const struct grove_codec *pb = &grove_codec_protobuf;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t len;
    char *json = seed_read(path, &len);
    struct grove_buf out = {0};
    int rc = 0;
    if (!json) {
        perror(path);
        return 1;
    }
    if (strncmp(name, "pull_request", 12) == 0) {
        struct grove_pull_request *m;
        if (grove_json_decode_pull_request(json, len, &m) == GROVE_OK &&
            pb->encode_pull_request(m, &out) == GROVE_OK)
            rc = seed_write(dir, name, "", FUZZ_PB_PULL_REQUEST, &out);
        grove_msg_free(m);
    } else if (strncmp(name, "push_request", 12) == 0) {
        struct grove_push_request *m;
        if (grove_json_decode_push_request(json, len, &m) == GROVE_OK &&
            pb->encode_push_request(m, &out) == GROVE_OK)
            rc = seed_write(dir, name, "", FUZZ_PB_PUSH_REQUEST, &out);
        grove_msg_free(m);
    } else if (strncmp(name, "push_response", 13) == 0) {
        struct grove_push_response *m;
        if (grove_json_decode_push_response(json, len, &m) == GROVE_OK &&
            pb->encode_push_response(m, &out) == GROVE_OK)
            rc = seed_write(dir, name, "", FUZZ_PB_PUSH_RESPONSE, &out);
        grove_msg_free(m);
    } else if (strncmp(name, "pull_response", 13) == 0 || strncmp(name, "changes", 7) == 0) {
        struct grove_pull_response *m;
        grove_err err = name[0] == 'c' ? grove_json_decode_changes(json, len, &m)
                                       : grove_json_decode_pull_response(json, len, &m);
        if (err == GROVE_OK && pb->encode_pull_response(m, &out) == GROVE_OK)
            rc = seed_write(dir, name, "", FUZZ_PB_PULL_RESPONSE, &out);
        out.len = 0;
        if (err == GROVE_OK && rc == 0) {
            m->since = m->latest_hlc;
            if (pb->encode_stream_batch(m, &out) == GROVE_OK)
                rc = seed_write(dir, name, ".batch", FUZZ_PB_STREAM_BATCH, &out);
        }
        grove_msg_free(m);
    }
    grove_buf_free(&out);
    free(json);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: seed_protobuf <dir> <vector.json>...\n");
        return 2;
    }
    int rc = 0;
    for (int i = 2; i < argc; i++)
        rc |= seed_one(argv[1], argv[i]);
    return rc;
}
