/* Everything tests/support/ offers (the grove_test_support library that every
 * test executable links), with the headers tests usually need. */
#ifndef GROVE_TESTS_SUPPORT_H
#define GROVE_TESTS_SUPPORT_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grove/grove.h"
#include "support/certs.h"
#include "support/fixture.h"
#include "support/node.h"
#include "support/port.h"
#include "support/tmpdir.h"

#endif
