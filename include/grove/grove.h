/* libgrove: field-level CRDT replication over pluggable transports. */
#ifndef GROVE_GROVE_H
#define GROVE_GROVE_H

#include "grove/codec.h"
#include "grove/data.h"
#include "grove/error.h"
#include "grove/hook.h"
#include "grove/json.h"
#include "grove/log.h"
#include "grove/metrics.h"
#include "grove/model.h"
#include "grove/node.h"
#include "grove/schema.h"
#include "grove/server.h"
#include "grove/store.h"
#include "grove/syncer.h"
#include "grove/transport.h"

#endif
