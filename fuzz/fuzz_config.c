/*  fuzz_config.c — libFuzzer harness for the configuration parser.
    Oracle: a text that parses must give a canonical form that parses back
    to the same canonical form (and hash), and validation must not crash.  */

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fg_config.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fg_config_t cfg;
    fg_error_t err;
    fg_config_defaults (&cfg);
    if (fg_config_parse (&cfg, (const char *) data, size, "fuzz.toml", &err)) {
        assert (err.code < 0 && err.msg [0]);
        return 0;
    }
    fg_config_validate (&cfg, &err);
    char *text = fg_config_canonical (&cfg, false);
    assert (text);
    fg_config_t again;
    fg_config_defaults (&again);
    int rc = fg_config_parse (&again, text, strlen (text), "canonical", &err);
    assert (rc == 0);
    char *text2 = fg_config_canonical (&again, false);
    assert (text2 && strcmp (text, text2) == 0);
    free (text);
    free (text2);
    //  the same bytes as one --set (first line only) must not crash either
    char line [256];
    size_t n = size < sizeof line - 1? size: sizeof line - 1;
    memcpy (line, data, n);
    line [n] = '\0';
    fg_config_set (&cfg, line, "fuzz", &err);
    return 0;
}
