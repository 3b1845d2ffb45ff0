/* A fault-injecting transport that wraps any registered transport, for
 * tests and the simulator (the transport counterpart of SQLite's test_vfs.c).
 *
 * A URL "fault+<inner-url>[#label]" dials <inner-url> through the registry
 * and passes every call through, except that seeded faults are injected on
 * the way: a call dropped before it reaches the peer, a reply lost after the
 * peer applied the call, a push sent twice, a short delay, and for streams
 * batches dropped, repeated and delivered out of order. A "partition" switch
 * fails every call. The optional "#label" is stripped before dialing; it lets
 * two links to the same peer (from different nodes) carry separate settings.
 *
 * Settings, random state and statistics are kept per link URL (the full
 * "fault+..." string) in a process-wide table, so a link keeps its state when
 * its peer is closed and dialed again (a node restart) and a run is
 * reproducible from its seeds. */
#ifndef GROVE_TRANSPORT_FAULTS_H
#define GROVE_TRANSPORT_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "grove/transport.h"

#define GROVE_FAULTS_PREFIX "fault+"

/* Probabilities are in [0, 1]; zero-initialised settings inject nothing. */
struct grove_faults {
    uint64_t seed;         /* mixed with the link URL: every link draws its own sequence */
    double drop;           /* call fails with GROVE_EUNAVAIL before reaching the peer */
    double lost_reply;     /* the peer handled the call; the caller gets GROVE_EUNAVAIL */
    double duplicate;      /* a push is sent twice */
    double delay;          /* the call first sleeps 1..max_delay_ms */
    int max_delay_ms;      /* 0: 3 */
    double stream_drop;    /* a streamed batch is not delivered */
    double stream_dup;     /* a streamed batch is delivered twice */
    double stream_reorder; /* a streamed batch is held back and delivered after later ones */
    bool partition;        /* every call fails with GROVE_EUNAVAIL */
    uint64_t fail_after;   /* 0: off; else every call after the first fail_after calls
                              (counted from this setting) fails with GROVE_EUNAVAIL */
};

/* What a link (or all links) injected so far. */
struct grove_fault_stats {
    uint64_t calls; /* pull, push and subscribe calls made through the shim */
    uint64_t drops;
    uint64_t lost_replies;
    uint64_t duplicates;
    uint64_t delays;
    uint64_t partitioned; /* calls refused by a partition */
    uint64_t batches;     /* streamed batches received from the inner transport */
    uint64_t stream_drops;
    uint64_t stream_dups;
    uint64_t stream_reorders;
};

/* The transport (name "fault"). Its schemes are "fault+" followed by each
 * scheme registered when it is first asked for: register it after the
 * transports it is to wrap. */
const struct grove_transport *grove_transport_faults(void);
/* Registers the transport once per process; later calls do nothing. */
grove_err grove_transport_faults_register(void);

/* Replaces the settings of link `url` (the full "fault+..." URL, label
 * included). url NULL sets the defaults, used by links without settings of
 * their own, and also overwrites the settings of every known link. The
 * link's random sequence restarts from the new seed. */
grove_err grove_faults_set(const char *url, const struct grove_faults *faults);
/* Turns the partition switch of one link (NULL: of every link, and the
 * default) on or off, leaving the other settings as they are. */
grove_err grove_faults_partition(const char *url, bool on);
/* Statistics of one link, or the sum over every link when url is NULL. */
void grove_faults_stats(const char *url, struct grove_fault_stats *out);
/* Forgets every link's settings and statistics and clears the defaults. */
void grove_faults_reset(void);

#endif
