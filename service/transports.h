/* The built-in transports of this build. */
#ifndef GROVED_TRANSPORTS_H
#define GROVED_TRANSPORTS_H

#include "grove/error.h"

/* Registers every transport compiled in (inproc is always there). The only
 * place that names concrete transports. */
grove_err groved_register_transports(void);

#endif
