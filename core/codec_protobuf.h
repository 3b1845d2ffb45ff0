/* What the protobuf mappings share (codec_protobuf.c for the sync service,
 * data_protobuf.c for the Data service): unpacking into a grove message's
 * arena, refusing NUL bytes in `string` fields, and packing. */
#ifndef GROVE_CODEC_PROTOBUF_H
#define GROVE_CODEC_PROTOBUF_H

#include <protobuf-c/protobuf-c.h>

#include "grove/model.h"

/* An allocator over msg's arena: what protobuf-c unpacks lives in msg. */
ProtobufCAllocator grove_pb_allocator(void *msg);

/* GROVE_EINVAL, located ("rows[1].pk: contains a NUL byte"), when a `string`
 * field of the wire holds a NUL byte, which protobuf-c would cut it at. A
 * malformed wire is left to the unpacker. */
grove_err grove_pb_refuse_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len);

/* Appends pb packed to out. */
grove_err grove_pb_pack(const ProtobufCMessage *pb, struct grove_buf *out);

#endif
