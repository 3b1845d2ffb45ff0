/* grovectl: the command line of a node's Data API (docs/data-api.md
 * "grovectl"), over HTTP or gRPC through the client library (grove/client.h).
 *
 *   grovectl [--node URL] [--token T] COMMAND ARGS...
 *
 * Exit 0 on success, 1 when the row is absent or the request failed (the
 * message on stderr), 2 on a usage error. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grove/json.h"
#include "grove/version.h"
#include "grovectl.h"

#define CTL_DEFAULT_NODE "http://127.0.0.1:8080"
/* Rows asked for per page when a list follows `next`. */
#define CTL_LIST_PAGE 1000

/* What a command runs with: the client, the output, and its arguments. */
struct ctl {
    const char *node;
    const char *token;
    struct grove_client *client;
    struct ctl_out out;
    const struct ctl_command *cmd;
    char **pos; /* positional arguments after the command's name */
    int npos;
    const char *prefix, *limit, *since; /* options, NULL when not given */
};

struct ctl_command {
    const char *name;
    const char *args;     /* the usage line after the name */
    const char *summary;  /* one line, for grovectl --help */
    const char *help;     /* the rest of `grovectl NAME --help` */
    int min_pos, max_pos; /* positional arguments (-1: any number) */
    unsigned options;     /* CTL_OPT_* accepted */
    int (*run)(struct ctl *ctl);
};

enum { CTL_OPT_PREFIX = 1, CTL_OPT_LIMIT = 2, CTL_OPT_SINCE = 4 };

static const char ctl_global_help[] =
    "usage: grovectl [--node URL] [--token T] COMMAND ARGS...\n"
    "\n"
    "Reads and writes rows of a groved node through its Data API.\n"
    "\n"
    "  --node URL   the node's http(s):// or grpc(s):// listener\n"
    "               (default: $GROVE_NODE, else " CTL_DEFAULT_NODE ")\n"
    "  --token T    the listener's bearer token (default: $GROVE_TOKEN)\n"
    "  --version    print grovectl's version\n"
    "\n"
    "Commands:\n";

static const char ctl_global_footer[] =
    "\n"
    "Values are JSON: a string is '\"Hello\"', an object '{\"a\":1}'. Output to a terminal\n"
    "is aligned text; elsewhere one JSON value per line. Exit status: 0 on success,\n"
    "1 when the row is absent or the request failed, 2 on a usage error.\n"
    "`grovectl COMMAND --help` describes each command.\n";

/* ---- usage errors ---- */

static int ctl_usage(const struct ctl *ctl, const char *fmt, const char *what)
{
    fputs("grovectl: ", stderr);
    if (ctl->cmd)
        fprintf(stderr, "%s: ", ctl->cmd->name);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    if (ctl->cmd)
        fprintf(stderr, "usage: grovectl %s %s\n", ctl->cmd->name, ctl->cmd->args);
    else
        fputs("usage: grovectl [--node URL] [--token T] COMMAND ARGS...\n", stderr);
    fprintf(stderr, "Try 'grovectl %s%s--help'.\n", ctl->cmd ? ctl->cmd->name : "",
            ctl->cmd ? " " : "");
    return CTL_USAGE;
}

/* A JSON argument, checked before anything is sent. */
static int ctl_json_arg(const struct ctl *ctl, const char *arg, const char *json)
{
    if (grove_json_validate(json, strlen(json)) == GROVE_OK)
        return CTL_OK;
    const char *why = grove_errmsg();
    if (strncmp(why, "body: ", 6) == 0)
        why += 6; /* the validator's name for the whole text */
    fprintf(stderr, "grovectl: %s: %s: not JSON (%s)\n", ctl->cmd->name, arg, why);
    fprintf(stderr, "A string is written with its quotes: '\"%s\"'.\n", json);
    return CTL_USAGE;
}

/* A request that failed: the client's message, which names the node. */
static int ctl_fail(void)
{
    fprintf(stderr, "grovectl: %s\n", grove_errmsg());
    return CTL_FAILED;
}

/* ---- writes ---- */

/* Writes the fields and prints the row after the write. */
static int ctl_write(struct ctl *ctl, const struct grove_field_write *fields, size_t count)
{
    char *row = NULL;
    if (grove_client_write(ctl->client, ctl->pos[0], ctl->pos[1], fields, count, NULL, &row, NULL))
        return ctl_fail();
    ctl_print_row(&ctl->out, row, strlen(row));
    free(row);
    return CTL_OK;
}

static int ctl_set(struct ctl *ctl)
{
    size_t count = (size_t)ctl->npos - 2;
    struct grove_field_write *fields = calloc(count, sizeof *fields);
    int rc = fields ? CTL_OK : ctl_fail();
    for (size_t i = 0; rc == CTL_OK && i < count; i++) {
        char *arg = ctl->pos[2 + i];
        char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
            rc = ctl_usage(ctl, "%s: expected FIELD=JSON", arg);
            break;
        }
        /* The field name ends at the '=': split a copy, keep arg for messages. */
        fields[i].field = strndup(arg, (size_t)(eq - arg));
        fields[i].crdt = GROVE_CRDT_LWW;
        fields[i].value = (struct grove_slice){.ptr = eq + 1, .len = strlen(eq + 1)};
        if (!fields[i].field)
            rc = ctl_fail();
        else
            rc = ctl_json_arg(ctl, arg, eq + 1);
    }
    if (rc == CTL_OK)
        rc = ctl_write(ctl, fields, count);
    for (size_t i = 0; fields && i < count; i++)
        free((char *)fields[i].field);
    free(fields);
    return rc;
}

static int ctl_incr(struct ctl *ctl)
{
    int64_t delta = 1;
    if (ctl->npos == 4) {
        const char *n = ctl->pos[3];
        char *end;
        errno = 0;
        long long v = strtoll(n, &end, 10);
        if (!*n || *end || errno == ERANGE)
            return ctl_usage(ctl, "%s: N is an integer (-9223372036854775808..9223372036854775807)",
                             n);
        delta = v;
    }
    struct grove_field_write field = {
        .field = ctl->pos[2], .crdt = GROVE_CRDT_COUNTER, .delta = delta};
    return ctl_write(ctl, &field, 1);
}

/* add and remove: elements of one set field. */
static int ctl_set_elements(struct ctl *ctl, bool add)
{
    size_t count = (size_t)ctl->npos - 3;
    struct grove_slice *elements = calloc(count, sizeof *elements);
    if (!elements)
        return ctl_fail();
    int rc = CTL_OK;
    for (size_t i = 0; rc == CTL_OK && i < count; i++) {
        const char *json = ctl->pos[3 + i];
        elements[i] = (struct grove_slice){.ptr = json, .len = strlen(json)};
        rc = ctl_json_arg(ctl, json, json);
    }
    struct grove_field_write field = {.field = ctl->pos[2], .crdt = GROVE_CRDT_SET};
    if (add) {
        field.add = elements;
        field.add_count = count;
    } else {
        field.remove = elements;
        field.remove_count = count;
    }
    if (rc == CTL_OK)
        rc = ctl_write(ctl, &field, 1);
    free(elements);
    return rc;
}

static int ctl_add(struct ctl *ctl)
{
    return ctl_set_elements(ctl, true);
}

static int ctl_remove(struct ctl *ctl)
{
    return ctl_set_elements(ctl, false);
}

static int ctl_delete(struct ctl *ctl)
{
    if (grove_client_delete(ctl->client, ctl->pos[0], ctl->pos[1], NULL))
        return ctl_fail();
    return CTL_OK;
}

/* ---- reads ---- */

static int ctl_get(struct ctl *ctl)
{
    char *row;
    if (grove_client_get(ctl->client, ctl->pos[0], ctl->pos[1], &row))
        return ctl_fail();
    ctl_print_row(&ctl->out, row, strlen(row));
    free(row);
    return CTL_OK;
}

/* A count option: a positive integer. */
static int ctl_count(const struct ctl *ctl, const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || text[0] == '-' || v == 0 || errno == ERANGE)
        return ctl_usage(ctl, "--limit %s: expected a positive integer", text);
    *out = (size_t)v;
    return CTL_OK;
}

/* Pages through the table until the limit or its end. */
static int ctl_list(struct ctl *ctl)
{
    size_t limit = SIZE_MAX;
    if (ctl->limit && ctl_count(ctl, ctl->limit, &limit))
        return CTL_USAGE;
    struct grove_list_query query = {.table = ctl->pos[0], .prefix = ctl->prefix};
    struct grove_row_page *page = NULL;
    char *after = NULL;
    int rc = CTL_OK;
    for (size_t printed = 0; printed < limit;) {
        size_t want = limit - printed;
        query.limit = want < CTL_LIST_PAGE ? want : CTL_LIST_PAGE;
        query.after = after;
        if (grove_client_list(ctl->client, &query, &page)) {
            rc = ctl_fail();
            break;
        }
        if (page->count > want)
            page->count = want; /* a server that sends more than asked */
        ctl_print_page(&ctl->out, page);
        printed += page->count;
        free(after);
        after = page->next && page->count ? strdup(page->next) : NULL;
        grove_msg_free(page);
        if (!after)
            break;
    }
    free(after);
    return rc;
}

/* SIGINT and SIGTERM end a watch; grovectl then exits 0. */
static atomic_bool ctl_interrupted;

static void ctl_on_signal(int sig)
{
    (void)sig;
    atomic_store(&ctl_interrupted, true);
}

static bool ctl_on_event(void *user, const struct grove_row_event *event)
{
    const struct ctl *ctl = user;
    ctl_print_event(&ctl->out, event);
    return !ferror(ctl->out.f); /* a reader that went away ends the watch */
}

static int ctl_watch(struct ctl *ctl)
{
    struct sigaction sa = {.sa_handler = ctl_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct grove_watch_options opts = {
        .table = ctl->pos[0], .prefix = ctl->prefix, .since = ctl->since};
    if (grove_client_watch(ctl->client, &opts, ctl_on_event, ctl, &ctl_interrupted))
        return ctl_fail();
    return ferror(ctl->out.f) ? CTL_FAILED : CTL_OK;
}

/* ---- the admin API (docs/operations.md) ---- */

static int ctl_status(struct ctl *ctl)
{
    char *json = NULL;
    if (grove_client_status(ctl->client, &json))
        return ctl_fail();
    ctl_print_tree(&ctl->out, json, strlen(json));
    free(json);
    return ferror(ctl->out.f) ? CTL_FAILED : CTL_OK;
}

/* Exits 1 when a peer's round failed: scripts can tell. */
static int ctl_sync(struct ctl *ctl)
{
    char *json = NULL;
    if (grove_client_sync(ctl->client, ctl->npos ? ctl->pos[0] : NULL, &json))
        return ctl_fail();
    ctl_print_tree(&ctl->out, json, strlen(json));
    bool failed = strstr(json, "\"error\":\"") != NULL;
    free(json);
    return failed || ferror(ctl->out.f) ? CTL_FAILED : CTL_OK;
}

static int ctl_backup(struct ctl *ctl)
{
    int64_t bytes = 0;
    if (grove_client_backup(ctl->client, ctl->pos[0], &bytes))
        return ctl_fail();
    if (ctl->out.text) {
        fprintf(ctl->out.f, "backup written to %s (%lld bytes)\n", ctl->pos[0], (long long)bytes);
    } else {
        struct grove_buf file = {0};
        if (grove_json_encode_string(ctl->pos[0], strlen(ctl->pos[0]), &file))
            return ctl_fail();
        fprintf(ctl->out.f, "{\"file\":%.*s,\"bytes\":%lld}\n", (int)file.len, file.data,
                (long long)bytes);
        grove_buf_free(&file);
    }
    return ferror(ctl->out.f) ? CTL_FAILED : CTL_OK;
}

/* ---- the command table ---- */

static const struct ctl_command ctl_commands[] = {
    {"set", "TABLE PK FIELD=JSON...", "set LWW fields to JSON values",
     "Sets one or more last-writer-wins fields of a row, in one write, and prints\n"
     "the row after it. Example: grovectl set documents doc-1 'title=\"Hello\"' meta='{\"a\":1}'\n",
     3, -1, 0, ctl_set},
    {"incr", "TABLE PK FIELD [N]", "add N (default 1, may be negative) to a counter",
     "Adds N to a counter field and prints the row after it. Concurrent increments\n"
     "on any node add up. Example: grovectl incr documents doc-1 views 5\n",
     3, 4, 0, ctl_incr},
    {"add", "TABLE PK FIELD JSON...", "add elements to a set field",
     "Adds JSON elements to a set field and prints the row after it.\n"
     "Example: grovectl add documents doc-1 tags '\"red\"' '\"blue\"'\n",
     4, -1, 0, ctl_add},
    {"remove", "TABLE PK FIELD JSON...", "remove elements from a set field",
     "Removes JSON elements from a set field and prints the row after it.\n"
     "Example: grovectl remove documents doc-1 tags '\"red\"'\n",
     4, -1, 0, ctl_remove},
    {"delete", "TABLE PK", "delete a row",
     "Deletes a row (a tombstone: a later write revives it).\n", 2, 2, 0, ctl_delete},
    {"get", "TABLE PK", "print a row",
     "Prints the resolved row as one JSON object ({\"title\":\"Hello\",\"views\":7,\n"
     "\"tags\":[\"red\"]}); on a terminal, one field per line. Exits 1 when the row\n"
     "is absent or deleted.\n",
     2, 2, 0, ctl_get},
    {"list", "TABLE [--prefix P] [--limit N]", "print the rows of a table",
     "Prints the rows in pk byte order, one {\"pk\":..,\"row\":{..}} per line, following\n"
     "the pages to the end of the table or until N rows.\n"
     "  --prefix P   only pks that start with P\n"
     "  --limit N    at most N rows\n",
     1, 1, CTL_OPT_PREFIX | CTL_OPT_LIMIT, ctl_list},
    {"watch", "TABLE [--prefix P] [--since CURSOR]", "print changes as they commit",
     "Prints one event per changed row until interrupted (Ctrl-C exits 0):\n"
     "{\"pk\":..,\"row\":{..}|null,\"deleted\":..,\"cursor\":\"..\"}.\n"
     "  --prefix P       only pks that start with P\n"
     "  --since CURSOR   resume after an event's cursor, with no gap and no repeat\n",
     1, 1, CTL_OPT_PREFIX | CTL_OPT_SINCE, ctl_watch},
    {"status", "", "print the node's status",
     "Prints the node id, version, uptime, tables and their fields, listeners, and\n"
     "per peer: URL, node id, transport, up/down, last success, last error, pending\n"
     "changes, stream state, the tables and pk prefix synced with it. One JSON\n"
     "object when piped. HTTP only; --token is the\n"
     "node's admin token when it has one.\n",
     0, 0, 0, ctl_status},
    {"sync", "[PEER]", "run a sync round now",
     "Runs one sync round with every peer (or only PEER, its URL as the node knows it)\n"
     "and prints each report: pulled, pushed, merged, conflicts, error, duration.\n"
     "Exits 1 when a round failed.\n",
     0, 1, 0, ctl_sync},
    {"backup", "FILE", "write an online copy of the node's store to FILE",
     "Copies the node's store while writes go on (SQLite's backup API; the copy is\n"
     "checked with PRAGMA integrity_check) into FILE, which must not exist. Restore\n"
     "with groved --db FILE: the node catches up from its peers before serving\n"
     "(docs/operations.md).\n",
     1, 1, 0, ctl_backup},
};
#define CTL_COMMANDS (sizeof ctl_commands / sizeof ctl_commands[0])

static void ctl_print_global_help(void)
{
    fputs(ctl_global_help, stdout);
    for (size_t i = 0; i < CTL_COMMANDS; i++) {
        char line[64];
        snprintf(line, sizeof line, "%s %s", ctl_commands[i].name, ctl_commands[i].args);
        printf("  %-42s %s\n", line, ctl_commands[i].summary);
    }
    fputs(ctl_global_footer, stdout);
}

static void ctl_print_command_help(const struct ctl_command *c)
{
    printf("usage: grovectl [--node URL] [--token T] %s %s\n\n%s", c->name, c->args, c->help);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: *value, or NULL when argv[*i]
 * is not that option. Returns CTL_USAGE when the value is missing. */
static int ctl_option(const struct ctl *ctl, int argc, char **argv, int *i, const char *name,
                      const char **value)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return CTL_OK;
    if (arg[n] == '=') {
        *value = arg + n + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        return ctl_usage(ctl, "%s needs a value", name);
    }
    return CTL_OK;
}

/* The command's options and positional arguments, from argv[first]. */
static int ctl_parse_command(struct ctl *ctl, int argc, char **argv, int first)
{
    static const struct {
        unsigned bit;
        const char *name;
        size_t offset;
    } options[] = {
        {CTL_OPT_PREFIX, "--prefix", offsetof(struct ctl, prefix)},
        {CTL_OPT_LIMIT, "--limit", offsetof(struct ctl, limit)},
        {CTL_OPT_SINCE, "--since", offsetof(struct ctl, since)},
    };
    bool options_end = false;
    for (int i = first; i < argc; i++) {
        char *arg = argv[i];
        if (options_end || strncmp(arg, "--", 2) != 0) {
            ctl->pos[ctl->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_end = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            ctl_print_command_help(ctl->cmd);
            return -1;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof options / sizeof options[0] && !known; k++) {
            const char *value = NULL;
            int rc = ctl_option(ctl, argc, argv, &i, options[k].name, &value);
            if (rc)
                return rc;
            if (!value)
                continue;
            if (!(ctl->cmd->options & options[k].bit))
                return ctl_usage(ctl, "%s is not an option of this command", options[k].name);
            *(const char **)((char *)ctl + options[k].offset) = value;
            known = true;
        }
        if (!known)
            return ctl_usage(ctl, "unknown option %s", arg);
    }
    const struct ctl_command *c = ctl->cmd;
    if (ctl->npos < c->min_pos)
        return ctl_usage(ctl, "%s", "missing arguments");
    if (c->max_pos >= 0 && ctl->npos > c->max_pos)
        return ctl_usage(ctl, "unexpected argument %s", ctl->pos[c->max_pos]);
    return CTL_OK;
}

/* The global options before the command; *first gets the command's index. */
static int ctl_parse_global(struct ctl *ctl, int argc, char **argv, int *first)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
        const char *value = NULL;
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ctl_print_global_help();
            return -1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("grovectl %s\n", GROVE_VERSION);
            return -1;
        }
        if ((rc = ctl_option(ctl, argc, argv, &i, "--node", &value)))
            return rc;
        if (value) {
            ctl->node = value;
            continue;
        }
        if ((rc = ctl_option(ctl, argc, argv, &i, "--token", &value)))
            return rc;
        if (value) {
            ctl->token = value;
            continue;
        }
        return ctl_usage(ctl, "unknown option %s", argv[i]);
    }
    if (i == argc)
        return ctl_usage(ctl, "%s", "no command");
    for (size_t k = 0; k < CTL_COMMANDS; k++)
        if (strcmp(argv[i], ctl_commands[k].name) == 0)
            ctl->cmd = &ctl_commands[k];
    if (!ctl->cmd)
        return ctl_usage(ctl, "unknown command %s", argv[i]);
    *first = i + 1;
    return CTL_OK;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {
        .node = getenv("GROVE_NODE"),
        .token = getenv("GROVE_TOKEN"),
        .out = {.f = stdout, .text = isatty(STDOUT_FILENO)},
    };
    if (!ctl.node || !*ctl.node)
        ctl.node = CTL_DEFAULT_NODE;
    ctl.pos = calloc((size_t)argc, sizeof *ctl.pos);
    if (!ctl.pos)
        return ctl_fail();
    int first = 0;
    int rc = ctl_parse_global(&ctl, argc, argv, &first);
    if (rc == CTL_OK)
        rc = ctl_parse_command(&ctl, argc, argv, first);
    if (rc == CTL_OK) {
        grove_err err = grove_client_open(&ctl.client, ctl.node, ctl.token);
        if (err == GROVE_EINVAL || err == GROVE_ENOTSUP)
            rc = ctl_usage(&(struct ctl){0}, "--node %s", grove_errmsg());
        else if (err)
            rc = ctl_fail();
    }
    if (rc == CTL_OK)
        rc = ctl.cmd->run(&ctl);
    grove_client_close(ctl.client);
    free(ctl.pos);
    if (fflush(stdout) != 0 && rc == CTL_OK)
        rc = CTL_FAILED;
    return rc < 0 ? CTL_OK : rc; /* -1: help was printed */
}
