/* What grovectl's command line (main.c) and its printing (output.c) share. */
#ifndef GROVECTL_H
#define GROVECTL_H

#include <stdbool.h>
#include <stdio.h>

#include "grove/client.h"

/* Exit statuses (docs/data-api.md "grovectl"). */
enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

/* Output goes to a terminal (aligned text for people) or elsewhere (one JSON
 * value per line, for programs). */
struct ctl_out {
    FILE *f;
    bool text;
};

/* A resolved row: the JSON object as it came (JSON lines), or one line per
 * field with the names aligned (text). */
void ctl_print_row(const struct ctl_out *out, const char *row, size_t len);
/* The rows of a page: {"pk":..,"row":{..}} per line, or "PK  ROW" lines with
 * the pks aligned. */
void ctl_print_page(const struct ctl_out *out, const struct grove_row_page *page);
/* One watch event: {"pk":..,"row":{..}|null,"deleted":..,"cursor":".."}, or
 * "PK  ROW" ("PK  (deleted)"). Flushed at once. */
void ctl_print_event(const struct ctl_out *out, const struct grove_row_event *event);

/* An admin answer (status, sync): the JSON as it came, or nested
 * "key: value" lines with "- " before each array element (text). */
void ctl_print_tree(const struct ctl_out *out, const char *json, size_t len);

#endif
