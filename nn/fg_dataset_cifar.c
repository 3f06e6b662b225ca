/*  fg_dataset_cifar.c — the CIFAR-10 / CIFAR-100 binary decoder of
    fg_dataset: records from files held in memory (see
    fg_dataset_internal.h).                                               */

#include "fg_dataset_internal.h"
#include "fg_config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  CIFAR-10 / CIFAR-100 binary

int
fg_dataset_from_cifar (int kind, fg_split_t split, size_t nfiles,
                       const uint8_t *const *files, const size_t *sizes,
                       const char *const *names, size_t limit,
                       fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    if (kind != FG_DATASET_CIFAR10 && kind != FG_DATASET_CIFAR100)
        return fg_error_set (err, FG_EINVAL, "%s: not a CIFAR dataset", fg_dataset_kind_name (kind));
    if (nfiles == 0)
        return fg_error_set (err, FG_EINVAL, "%s: no files", fg_dataset_kind_name (kind));
    bool c100 = kind == FG_DATASET_CIFAR100;
    size_t record = c100? FG_CIFAR100_RECORD: FG_CIFAR10_RECORD;
    size_t skip = c100? 2: 1;                   //  pixels start here
    uint32_t classes = c100? 100: 10;

    //  Sizes and labels of every file first: nothing is allocated for a bad set
    size_t total = 0;
    for (size_t f = 0; f < nfiles; f++) {
        if (sizes [f] == 0 || sizes [f] % record)
            return fg_error_set (err, FG_EFORMAT, "%s: expected a positive multiple of %zu bytes "
                                 "(records of %s), found %zu", names [f], record,
                                 fg_dataset_kind_name (kind), sizes [f]);
        size_t n = sizes [f] / record;
        for (size_t r = 0; r < n; r++) {
            const uint8_t *rec = files [f] + r * record;
            if (c100 && rec [0] >= 20)
                return fg_error_set (err, FG_ERANGE, "%s: record %zu (byte offset %zu): coarse "
                                     "label %u is outside 0..19", names [f], r, r * record, rec [0]);
            if (rec [skip - 1] >= classes)
                return fg_error_set (err, FG_ERANGE, "%s: record %zu (byte offset %zu): label %u "
                                     "is outside 0..%u", names [f], r, r * record + skip - 1,
                                     rec [skip - 1], classes - 1);
        }
        if (n > UINT32_MAX - total)
            return fg_error_set (err, FG_EFORMAT, "%s: more than %u records in all",
                                 names [f], UINT32_MAX);
        total += n;
    }
    size_t count = limit && limit < total? limit: total;
    int rc = fg_dataset_alloc (kind, split, count, classes, 32, 32, 3, out, err);
    if (rc)
        return rc;
    fg_dataset_t *self = *out;
    size_t i = 0;
    for (size_t f = 0; f < nfiles && i < count; f++) {
        size_t n = sizes [f] / record;
        for (size_t r = 0; r < n && i < count; r++, i++) {
            const uint8_t *rec = files [f] + r * record;
            self->labels [i] = rec [skip - 1];
            //  planar (C, 32, 32) -> HWC (32, 32, C)
            uint8_t *dst = self->pixels + i * 3072;
            const uint8_t *plane = rec + skip;
            for (size_t p = 0; p < 1024; p++) {
                dst [3 * p]     = plane [p];
                dst [3 * p + 1] = plane [1024 + p];
                dst [3 * p + 2] = plane [2048 + p];
            }
        }
    }
    fg_dataset_finish (self, NULL);
    return 0;
}
