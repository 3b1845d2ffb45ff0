/* The conformance suite over inproc://, the in-process transport. */
#include <stdio.h>
#include <unistd.h>

#include "conformance/conformance.h"

static void inproc_listen_url(char *url, size_t cap, int attempt)
{
    snprintf(url, cap, "inproc://conformance-%d-%d", (int)getpid(), attempt);
}

static void inproc_refused_url(char *url, size_t cap)
{
    snprintf(url, cap, "inproc://nobody-listens-%d", (int)getpid());
}

static const struct conformance_fixture inproc_fixture = {
    .listen_url = inproc_listen_url, .refused_url = inproc_refused_url,
    /* No silent server and no raw bytes: inproc has no wire to abuse. */
};

GROVE_CONFORMANCE_SUITE(conformance_inproc, inproc_fixture)
