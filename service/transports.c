/* Built-in transports, each behind its build option (GROVE_HAVE_*, set by
 * service/CMakeLists.txt when the transport's target exists). */
#include "transports.h"

#include "grove/transport.h"

#ifdef GROVE_HAVE_HTTP
#include "grove/transport_http.h"
#endif
#ifdef GROVE_HAVE_GRPC
#include "grove/transport_grpc.h"
#endif
#ifdef GROVE_HAVE_NNG
#include "grove/transport_nng.h"
#endif

grove_err groved_register_transports(void)
{
    grove_err err = GROVE_OK;
#ifdef GROVE_HAVE_HTTP
    if (!err)
        err = grove_transport_register(grove_transport_http());
#endif
#ifdef GROVE_HAVE_GRPC
    if (!err)
        err = grove_transport_register(grove_transport_grpc());
#endif
#ifdef GROVE_HAVE_NNG
    if (!err)
        err = grove_transport_register(grove_transport_nng());
#endif
    return err;
}
