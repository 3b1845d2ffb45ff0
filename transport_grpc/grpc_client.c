/* The gRPC dialer: one channel per peer; each unary call has its own pluck
 * queue and a deadline from the dial options; Stream is consumed with short
 * cq_next waits so *stop is honoured within 200 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "grpc_internal.h"
#include "grove/sys/error.h"

struct gcli {
    grpc_channel *channel;
    void *methods[GT_METHODS];
    char *authorization; /* "Bearer <token>" or NULL */
    int timeout_ms;
};

static grove_err gcli_credentials(const struct grove_dial_options *opts, bool tls,
                                  grpc_channel_credentials **out)
{
    *out = NULL;
    if (!tls) {
        *out = grpc_insecure_credentials_create();
        return GROVE_OK;
    }
    if (opts->insecure) {
        /* Development only: encrypt, but accept any server certificate. */
        grpc_tls_credentials_options *o = grpc_tls_credentials_options_create();
        grpc_tls_credentials_options_set_verify_server_cert(o, 0);
        grpc_tls_certificate_verifier *verifier = grpc_tls_certificate_verifier_no_op_create();
        grpc_tls_credentials_options_set_certificate_verifier(o, verifier);
        grpc_tls_certificate_verifier_release(verifier); /* the options hold their own ref */
        grpc_tls_credentials_options_set_check_call_host(o, 0);
        *out = grpc_tls_credentials_create(o);
        return *out ? GROVE_OK : grove_error_set(GROVE_EINVAL, "cannot create TLS credentials");
    }
    char *ca = NULL, *cert = NULL, *key = NULL;
    grove_err err;
    if ((opts->ca_file && (err = grove_file_read(opts->ca_file, "CA file", &ca, NULL))) ||
        (opts->cert_file && (err = grove_file_read(opts->cert_file, "certificate", &cert, NULL))) ||
        (opts->key_file && (err = grove_file_read(opts->key_file, "key", &key, NULL))))
        goto done;
    err = GROVE_OK;
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    *out = grpc_ssl_credentials_create_ex(ca, cert && key ? &pair : NULL, NULL, NULL);
    if (!*out)
        err = grove_error_set(GROVE_EINVAL, "cannot create TLS credentials");
done:
    free(ca);
    free(cert);
    free(key);
    return err;
}

static void gcli_close(void *self)
{
    struct gcli *c = self;
    if (!c)
        return;
    if (c->channel)
        grpc_channel_destroy(c->channel);
    free(c->authorization);
    free(c);
    grpc_shutdown();
}

static grove_err gcli_open(const struct grove_url *url, const struct grove_dial_options *opts,
                           const struct grove_codec **codec, void **self_out)
{
    (void)codec;
    *self_out = NULL;
    grove_err err;
    if (url->port == 0)
        return grove_error_set(GROVE_EINVAL, "a gRPC peer needs a port");
    bool tls = strcmp(url->scheme, "grpcs") == 0;
    char target[300];
    grove_grpc_target(url, target, sizeof target);

    grpc_init();
    struct gcli *c = calloc(1, sizeof *c);
    grpc_channel_credentials *creds = NULL;
    if (!c) {
        grpc_shutdown();
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    c->timeout_ms = opts->timeout_ms;
    if (opts->token && !(c->authorization = grove_bearer_value(opts->token))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if ((err = gcli_credentials(opts, tls, &creds)))
        goto fail;
    int connect_ms = opts->connect_timeout_ms;
    grpc_arg arg_list[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1},
        /* A restarted peer should be found again within seconds, not after
         * gRPC's default two-minute reconnect backoff; the syncer has its own. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = 200},
        /* The minimum time between connection attempts, which gRPC takes
         * as the connect timeout as well: at most a second, so a returning
         * peer does not wait out the 5 s connect timeout between attempts.
         * The cost: a link whose TCP and TLS setup takes over a second
         * (gRPC's jitter aside) cannot connect over gRPC. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
         .value.integer = connect_ms < 1000 ? connect_ms : 1000},
        /* At most a second (gRPC adds 20% jitter) between connection
         * attempts: a returning peer is used again within about 2 s, with
         * the syncer's own retry (core/syncer.c). */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
         .value.integer = 1000},
        /* Each peer gets its own connection even when two point at one host. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args args = {.num_args = sizeof arg_list / sizeof arg_list[0], .args = arg_list};
    c->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (!c->channel) {
        err = grove_error_set(GROVE_EUNAVAIL, "cannot create a gRPC channel to %s", target);
        goto fail;
    }
    for (int m = 0; m < GT_METHODS; m++)
        c->methods[m] =
            grpc_channel_register_call(c->channel, grove_grpc_method_paths[m], NULL, NULL);
    *self_out = c;
    return GROVE_OK;
fail:
    gcli_close(c);
    return err;
}

static void gcli_slice_release(void *owner)
{
    grpc_slice *slice = owner;
    grpc_slice_unref(*slice);
    free(slice);
}

static grove_err gcli_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                           struct grove_reply *reply)
{
    struct gcli *c = self;
    grpc_slice *answer = malloc(sizeof *answer);
    if (!answer)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grpc_slice payload = grpc_slice_from_copied_buffer(request->data, request->len);
    struct grove_grpc_call x;
    grove_grpc_call_open(&x, c->channel, c->methods[kind == GROVE_CALL_PULL ? GT_PULL : GT_PUSH],
                         false, grove_grpc_deadline_ms(c->timeout_ms), c->authorization,
                         grpc_raw_byte_buffer_create(&payload, 1));
    grpc_slice_unref(payload);
    grove_err err = GROVE_OK;
    grpc_op ops[6];
    size_t n = grove_grpc_call_request_ops(&x, ops);
    grove_grpc_call_recv_op(&x, &ops[n++]);
    grove_grpc_call_status_op(&x, &ops[n++]);
    grpc_call_error rc = grove_grpc_start_batch(x.call, ops, n, x.call);
    if (rc != GRPC_CALL_OK) {
        err = grove_error_set(GROVE_EPROTO, "%s", grpc_call_error_to_string(rc));
        goto done;
    }
    grpc_event ev = grove_grpc_cq_pluck(x.cq, x.call, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        err = grove_error_set(GROVE_EUNAVAIL, "call failed");
        goto done;
    }
    if (x.status != GRPC_STATUS_OK) {
        err = grove_grpc_call_error(&x);
        goto done;
    }
    if (!x.recv || !grove_grpc_buffer_slice(x.recv, answer)) {
        err = grove_error_set(GROVE_EPROTO, "OK without a response message");
        goto done;
    }
    *reply = (struct grove_reply){.data = (const char *)GRPC_SLICE_START_PTR(*answer),
                                  .len = GRPC_SLICE_LENGTH(*answer),
                                  .release = gcli_slice_release,
                                  .owner = answer};
    answer = NULL;
done:
    grove_grpc_call_close(&x);
    free(answer);
    return err;
}

/* The subscriber's batch fn, for each message of the stream. */
struct gcli_stream {
    grove_batch_fn fn;
    void *user;
};

static grove_err gcli_on_message(void *user, const char *data, size_t len, bool *more)
{
    const struct gcli_stream *st = user;
    (void)more;
    return grove_stream_deliver(&grove_codec_protobuf, data, len, st->fn, st->user);
}

static grove_err gcli_subscribe(void *self, const struct grove_pull_request *req, grove_batch_fn fn,
                                void *user, const atomic_bool *stop)
{
    struct gcli *c = self;
    struct grove_buf buf = {0};
    grove_err err = grove_codec_protobuf.encode_pull_request(req, &buf);
    if (err) {
        grove_buf_free(&buf);
        return err;
    }
    struct grove_grpc_call x;
    grove_grpc_call_open(&x, c->channel, c->methods[GT_STREAM], true,
                         gpr_inf_future(GPR_CLOCK_REALTIME), c->authorization,
                         grove_grpc_buffer_take(&buf));
    struct gcli_stream st = {fn, user};
    err = grove_grpc_call_read_stream(&x, 200, stop, gcli_on_message, &st, "stream");
    grove_grpc_call_close(&x);
    return err;
}

const struct grove_dialer_ops grove_grpc_dialer_ops = {
    .open = gcli_open,
    .call = gcli_call,
    .subscribe = gcli_subscribe,
    .close = gcli_close,
};
