/* libFuzzer target for groved's config file parser (service/config.c): the
 * input is written to a file that groved_config_load reads through
 * --config. Whatever it holds, loading returns (0 or the usage exit code)
 * and groved_config_free releases what it kept. The GROVE_* variables are
 * cleared first so that only the file decides. Run with -close_fd_mask=2:
 * each refused file prints its reason on stderr. */
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char fuzz_config_path[64];

static void fuzz_config_remove(void)
{
    unlink(fuzz_config_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    extern char **environ;
    for (char **e = environ; *e;) {
        if (strncmp(*e, "GROVE_", 6) == 0) {
            char name[256];
            size_t n = strcspn(*e, "=");
            snprintf(name, sizeof name, "%.*s", (int)n, *e);
            unsetenv(name); /* shifts environ down: look at *e again */
        } else {
            e++;
        }
    }
    /* In memory when there is a tmpfs: the file is rewritten every run. */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_config_path, sizeof fuzz_config_path, "%s/grove-fuzz-config-XXXXXX", dir);
    int fd = mkstemp(fuzz_config_path);
    if (fd < 0) {
        perror("fuzz_config: mkstemp");
        abort();
    }
    close(fd);
    atexit(fuzz_config_remove);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(fuzz_config_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror("fuzz_config: writing the config file");
        abort();
    }
    char *argv[] = {"groved", "--config", fuzz_config_path, NULL};
    struct groved_config cfg;
    optind = 0; /* getopt_long starts over for each load */
    groved_config_load(&cfg, 3, argv);
    groved_config_free(&cfg);
    return 0;
}
