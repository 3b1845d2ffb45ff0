#include "grpc_fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grove/schema.h"
#include "grove/store.h"
#include "transport_grpc.h"

static void fixture_register_once(void)
{
    grove_transport_register(grove_transport_grpc()); /* EINVAL when already there */
}

void grpc_fixture_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fixture_register_once);
}

static int bound_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

int grpc_fixture_free_port(void)
{
    int port;
    close(bound_socket(&port));
    return port;
}

int grpc_fixture_silent_open(int *port)
{
    int fd = bound_socket(port);
    cr_assert_eq(listen(fd, 16), 0);
    return fd;
}

void grpc_fixture_tmpdir(char *dir)
{
    strcpy(dir, "/tmp/grove-grpc-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static struct grpc_fixture_tls tls_files;

static void tls_generate(void)
{
    char dir[64];
    grpc_fixture_tmpdir(dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
             "-subj /CN=grove-test-ca 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
             "-subj /CN=localhost 2>/dev/null && "
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out server.pem -days 2 -extfile san.ext 2>/dev/null && "
             "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
             "-subj /CN=grove-client 2>/dev/null && "
             "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out client.pem -days 2 2>/dev/null",
             dir);
    cr_assert_eq(system(cmd), 0, "openssl failed");
    snprintf(tls_files.ca, sizeof tls_files.ca, "%s/ca.pem", dir);
    snprintf(tls_files.cert, sizeof tls_files.cert, "%s/server.pem", dir);
    snprintf(tls_files.key, sizeof tls_files.key, "%s/server.key", dir);
    snprintf(tls_files.client_cert, sizeof tls_files.client_cert, "%s/client.pem", dir);
    snprintf(tls_files.client_key, sizeof tls_files.client_key, "%s/client.key", dir);
}

const struct grpc_fixture_tls *grpc_fixture_tls(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tls_generate);
    return &tls_files;
}

void grpc_node_start(struct grpc_node *n, const char *scheme,
                     const struct grove_listen_options *opts, const struct grove_hook_chain *hooks)
{
    memset(n, 0, sizeof *n);
    grpc_fixture_register();
    grpc_fixture_tmpdir(n->dir);
    char path[128];
    snprintf(path, sizeof path, "%s/node.db", n->dir);
    cr_assert_eq(grove_schema_new(&n->schema), GROVE_OK);
    cr_assert_eq(
        grove_schema_parse(n->schema, "documents:title=lww,meta=lww,views=counter,tags=set"),
        GROVE_OK, "%s", grove_errmsg());
    struct grove_store_options so = {.path = path, .node_id = "srv", .schema = n->schema};
    cr_assert_eq(grove_store_open(&n->node.store, &so), GROVE_OK, "%s", grove_errmsg());
    struct grove_server_options sv = {.hooks = hooks};
    cr_assert_eq(grove_server_new(&n->node.server, n->node.store, &sv), GROVE_OK, "%s",
                 grove_errmsg());
    for (int attempt = 0;; attempt++) {
        snprintf(n->url, sizeof n->url, "%s://127.0.0.1:%d", scheme, grpc_fixture_free_port());
        grove_err err = grove_node_listen(&n->node, n->url, opts);
        if (err == GROVE_OK)
            break;
        cr_assert(err == GROVE_EUNAVAIL && attempt < 5, "%s", grove_errmsg());
    }
}

void grpc_node_stop(struct grpc_node *n)
{
    grove_node_close(&n->node);
    grove_schema_free(n->schema);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    cr_assert_eq(system(cmd), 0);
}

int grpc_fixture_raw_call(const char *url, const char *method, const void *body, size_t len,
                          const char *token, char *details_out, size_t cap)
{
    struct grove_url u;
    cr_assert_eq(grove_url_parse(url, &u), GROVE_OK);
    char target[300];
    snprintf(target, sizeof target, "%s:%d", u.host, u.port);
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(30, GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                 grpc_slice_from_static_string(method), NULL, deadline, NULL);
    grpc_slice s = grpc_slice_from_copied_buffer(body, len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status;
    grpc_slice details;
    char auth[256];
    grpc_metadata md = {0};
    if (token) {
        snprintf(auth, sizeof auth, "Bearer %s", token);
        md.key = grpc_slice_from_static_string("authorization");
        md.value = grpc_slice_from_static_string(auth);
    }
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = token ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = &md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    cr_assert_eq(grpc_call_start_batch(call, ops, 6, call, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    cr_assert_eq(ev.type, GRPC_OP_COMPLETE);
    snprintf(details_out, cap, "%.*s", (int)GRPC_SLICE_LENGTH(details),
             (const char *)GRPC_SLICE_START_PTR(details));
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return (int)status;
}
