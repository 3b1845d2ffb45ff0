/* The standard gRPC health service's Check (grpc.health.v1), so that
 * orchestrators and grpc_health_probe can ask a gRPC listener whether its
 * node is ready. Its two messages are one field each, read and written here
 * by hand: HealthCheckRequest { string service = 1; } and
 * HealthCheckResponse { ServingStatus status = 1; }. */
#include <string.h>

#include "grove/server.h"
#include "grove/sys/error.h"
#include "grpc_internal.h"

enum { HEALTH_SERVING = 1, HEALTH_NOT_SERVING = 2 };

/* The service named by a HealthCheckRequest ("" when the field is absent). */
static grove_err health_service(const unsigned char *p, size_t len, const unsigned char **name,
                                size_t *name_len)
{
    *name = p;
    *name_len = 0;
    if (len == 0)
        return GROVE_OK;
    size_t n = 0, i = 1;
    for (int shift = 0; i < len && shift < 28; shift += 7) {
        n |= (size_t)(p[i] & 0x7f) << shift;
        if (!(p[i++] & 0x80))
            break;
    }
    if (p[0] != 0x0a || i > len || n != len - i)
        return grove_error_set(GROVE_EINVAL, "not a HealthCheckRequest");
    *name = p + i;
    *name_len = n;
    return GROVE_OK;
}

static bool health_known(const unsigned char *name, size_t len)
{
    static const char *const services[] = {"", "grove.sync.v1.Sync", "grove.data.v1.Data"};
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (strlen(services[i]) == len && memcmp(services[i], name, len) == 0)
            return true;
    return false;
}

grove_err grove_grpc_health_check(struct grove_server *server, const char *data, size_t len,
                                  struct grove_buf *out)
{
    const unsigned char *name;
    size_t name_len;
    grove_err err = health_service((const unsigned char *)data, len, &name, &name_len);
    if (err)
        return err;
    if (!health_known(name, name_len))
        return grove_error_set(GROVE_ENOTFOUND, "unknown service \"%.*s\"",
                               (int)(name_len > 128 ? 128 : name_len), (const char *)name);
    char reply[2] = {0x08, grove_server_ready(server) ? HEALTH_SERVING : HEALTH_NOT_SERVING};
    return grove_buf_append(out, reply, sizeof reply);
}
