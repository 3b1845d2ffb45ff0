#include "grpc_fixture.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grove/sys/transport.h"
#include "grove/transport_grpc.h"

static void fixture_register_once(void)
{
    grove_transport_register(grove_transport_grpc()); /* EINVAL when already there */
}

void grpc_fixture_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fixture_register_once);
}

int grpc_fixture_free_port(void)
{
    int port = support_free_port();
    cr_assert_gt(port, 0, "no free loopback port");
    return port;
}

int grpc_fixture_silent_open(int *port)
{
    int fd = support_silent_listener(port);
    cr_assert_geq(fd, 0, "no silent listener");
    return fd;
}

void grpc_node_start(struct grpc_node *n, const char *scheme,
                     const struct grove_listen_options *opts, const struct grove_hook_chain *hooks)
{
    grpc_fixture_register();
    static const char *const tables[] = {"documents:title=lww,meta=lww,views=counter,tags=set",
                                         NULL};
    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%%d", scheme);
    struct grove_server_options server = {.hooks = hooks};
    support_node_start(
        n, &(struct support_node_options){
               .node_id = "srv", .tables = tables, .server = &server, .listen = opts, .url = url});
}

void grpc_node_stop(struct grpc_node *n)
{
    support_node_stop(n);
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
