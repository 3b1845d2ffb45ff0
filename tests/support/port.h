/* Loopback TCP ports for tests and benchmarks (no Criterion here, so
 * grove-bench can use it too). */
#ifndef GROVE_TESTS_SUPPORT_PORT_H
#define GROVE_TESTS_SUPPORT_PORT_H

/* A 127.0.0.1 port nothing listens on right now (bound, then released), or
 * -1; the next port is free too (an nng listener publishes its stream
 * there), and neither was handed out lately by this process. Someone may
 * take it before the caller binds: retry on "in use". */
int support_free_port(void);

/* A socket bound to a free 127.0.0.1 port (*port) that accepts connections
 * in the kernel and never answers them: a server that hangs. Returns the
 * descriptor (close it to stop), or -1. */
int support_silent_listener(int *port);

#endif
