/* The admin API over HTTP (docs/operations.md): GET /v1/status, POST
 * /v1/sync[?peer=URL], POST /v1/backup. None takes a body, so each is
 * answered from the request head, after the admin token (or, without one,
 * the listener's token) is checked. The backup streams the copy back: the
 * server never writes where a client says. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove/admin.h"
#include "grove/log.h"
#include "grove/sys/error.h"
#include "http_internal.h"

enum admin_op { ADMIN_NONE, ADMIN_STATUS, ADMIN_SYNC, ADMIN_BACKUP };

static enum admin_op admin_op_of(const char *target)
{
    static const struct {
        const char *path;
        enum admin_op op;
    } ops[] = {
        {"/v1/status", ADMIN_STATUS}, {"/v1/sync", ADMIN_SYNC}, {"/v1/backup", ADMIN_BACKUP}};
    size_t n = strcspn(target, "?");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strlen(ops[i].path) == n && strncmp(target, ops[i].path, n) == 0)
            return ops[i].op;
    return ADMIN_NONE;
}

bool grove_http_admin_is_path(const struct http_listener *l, const char *target)
{
    return l->admin && admin_op_of(target) != ADMIN_NONE;
}

/* The copy, made in a fresh directory under $TMPDIR, handed to MHD as an
 * open file already unlinked: nothing is left behind, whatever the client does. */
static enum MHD_Result admin_backup(struct http_listener *l, struct MHD_Connection *conn)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], path[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/groved-backup-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return grove_http_queue_error(l, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                      "backup: cannot make a temporary directory", NULL);
    snprintf(path, sizeof path, "%s/copy.db", dir);
    int64_t bytes = 0;
    grove_err err = grove_admin_backup(l->admin, path, &bytes);
    int fd = err ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    unlink(path);
    rmdir(dir);
    if (err)
        return grove_http_queue_grove_error(l, conn, err);
    if (fd < 0)
        return grove_http_queue_error(l, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                      "backup: cannot read the copy back", NULL);
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)bytes, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/vnd.sqlite3");
    MHD_add_response_header(resp, "Content-Disposition", "attachment; filename=\"groved.db\"");
    grove_log_kv(GROVE_LOG_INFO, "backup", "bytes=%lld", (long long)bytes);
    return grove_http_queue_response(l, conn, MHD_HTTP_OK, resp);
}

enum MHD_Result grove_http_admin_serve(struct http_listener *l, struct MHD_Connection *conn,
                                       const char *method, const char *target)
{
    enum admin_op op = admin_op_of(target);
    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (op == ADMIN_STATUS && !is_get)
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", "GET");
    if (op != ADMIN_STATUS && !is_post)
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", "POST");
    if (atomic_load(&l->closing))
        return grove_http_queue_error(l, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    struct grove_caller caller;
    grove_err err = grove_http_authorize(l, conn, "admin", GROVE_NEED_ADMIN, &caller);
    if (err)
        return grove_http_queue_grove_error(l, conn, err);
    grove_caller_release(&caller);
    if (op == ADMIN_BACKUP)
        return admin_backup(l, conn);
    struct grove_buf out = {0};
    if (op == ADMIN_STATUS) {
        err = grove_admin_status(l->admin, &out);
    } else {
        const char *peer = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "peer");
        err = grove_admin_sync(l->admin, peer && *peer ? peer : NULL, &out);
    }
    if (err) {
        grove_buf_free(&out);
        return grove_http_queue_grove_error(l, conn, err);
    }
    return grove_http_queue_json(l, conn, MHD_HTTP_OK, &out);
}
