/* The conformance suite over http:// and https:// (certificate made at test time). */
#include "transport_http/http_fixture.h"

GROVE_CONFORMANCE_SUITE(transport_http_conformance, http_conformance)
GROVE_CONFORMANCE_SUITE(transport_http_conformance_tls, https_conformance)
