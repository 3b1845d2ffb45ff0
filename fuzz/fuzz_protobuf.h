/* The protobuf target's input: one byte naming the message, then its
 * protobuf bytes. fuzz_protobuf.c reads it, seed_protobuf.c writes seeds. */
#ifndef GROVE_FUZZ_PROTOBUF_H
#define GROVE_FUZZ_PROTOBUF_H

enum fuzz_pb_kind {
    FUZZ_PB_PULL_REQUEST,
    FUZZ_PB_PULL_RESPONSE,
    FUZZ_PB_PUSH_REQUEST,
    FUZZ_PB_PUSH_RESPONSE,
    FUZZ_PB_STREAM_BATCH,
    FUZZ_PB_KINDS,
};

#endif
