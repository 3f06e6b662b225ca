/*  fg_trainer_fault.c — a trainer that lies on purpose (FEDGRID_FAULT,
    lib/fg_fault.h), for tests of the coordinator's replication and
    validation. Without FEDGRID_FAULT nothing here changes a result.      */

#include "fg_trainer_internal.h"
#include "fg_fault.h"
#include "fg_log.h"

#include <stdlib.h>
#include <string.h>

static const fg_fault_t *
s_fault (const fg_trn_t *self, unsigned kinds)
{
    return fg_fault_for_unit (self->task.seed, self->round, self->shard, kinds);
}

const fg_state_t *
fg_trn_fault_weights (fg_trn_t *self, const fg_state_t *final, fg_state_t **lie)
{
    *lie = NULL;
    const fg_fault_t *fault = s_fault (self, FG_FAULT_WEIGHTS);
    if (!fault || !self->weights)
        return final;
    fg_state_t *copy = fg_state_dup (final);
    if (copy && fg_fault_apply_weights (fault, copy, self->weights)) {
        fg_warn ("trainer %s: FEDGRID_FAULT %s: round %u shard %u gets a wrong result",
                 self->node_id, fg_fault_name (fault->kind), self->round, self->shard);
        *lie = copy;
        return copy;
    }
    fg_state_destroy (&copy);
    return final;
}

//  other-unit: the previous unit's result goes out for this one, and this
//  one's is kept for the next; without the fault the result is only kept.
static void
s_other_unit (fg_trn_t *self, bool lie)
{
    if (lie && self->prev_update) {
        uint8_t *update = self->update;
        size_t size = self->update_size;
        float *loss = self->loss;
        uint32_t nloss = self->nloss;
        uint64_t samples = self->samples;
        uint8_t hash [FG_SHA256_SIZE];
        memcpy (hash, self->update_hash, FG_SHA256_SIZE);
        self->update = self->prev_update;
        self->update_size = self->prev_size;
        self->loss = self->prev_loss;
        self->nloss = self->prev_nloss;
        self->samples = self->prev_samples;
        memcpy (self->update_hash, self->prev_hash, FG_SHA256_SIZE);
        self->prev_update = update;
        self->prev_size = size;
        self->prev_loss = loss;
        self->prev_nloss = nloss;
        self->prev_samples = samples;
        memcpy (self->prev_hash, hash, FG_SHA256_SIZE);
        fg_warn ("trainer %s: FEDGRID_FAULT other-unit: round %u shard %u gets the result of "
                 "the previous unit", self->node_id, self->round, self->shard);
        return;
    }
    uint8_t *update = malloc (self->update_size? self->update_size: 1);
    float *loss = malloc ((self->nloss? self->nloss: 1) * sizeof (float));
    if (!update || !loss) {
        free (update);
        free (loss);
        return;
    }
    memcpy (update, self->update, self->update_size);
    memcpy (loss, self->loss, self->nloss * sizeof (float));
    fg_trn_fault_free (self);
    self->prev_update = update;
    self->prev_size = self->update_size;
    self->prev_loss = loss;
    self->prev_nloss = self->nloss;
    self->prev_samples = self->samples;
    memcpy (self->prev_hash, self->update_hash, FG_SHA256_SIZE);
}

void
fg_trn_fault_result (fg_trn_t *self)
{
    const fg_fault_t *fault = s_fault (self, FG_FAULT_BLOB);
    if (fault && self->update
    &&  fg_fault_apply_blob (fault, self->update, self->update_size)) {
        fg_sha256 (self->update, self->update_size, self->update_hash);
        fg_warn ("trainer %s: FEDGRID_FAULT flip-blob: round %u shard %u", self->node_id,
                 self->round, self->shard);
    }
    fault = s_fault (self, FG_FAULT_COUNT);
    if (fault) {
        fg_warn ("trainer %s: FEDGRID_FAULT samples: round %u shard %u says %llu samples, "
                 "not %llu", self->node_id, self->round, self->shard,
                 (unsigned long long) fault->count, (unsigned long long) self->samples);
        self->samples = fault->count;
    }
    if (fg_fault_armed ())
        s_other_unit (self, s_fault (self, FG_FAULT_UNIT) != NULL);
}

void
fg_trn_fault_hello_flood (fg_trn_t *self, fg_wire_msg_t *hello)
{
    uint64_t n = fg_fault_hello_flood ();
    if (!n || self->flooded)
        return;
    self->flooded = true;
    char own [sizeof hello->hello.node_id];
    memcpy (own, hello->hello.node_id, sizeof own);
    fg_warn ("trainer %s: FEDGRID_FAULT hello-flood: %llu HELLOs with other node ids",
             self->node_id, (unsigned long long) n);
    for (uint64_t i = 0; i < n; i++) {
        snprintf (hello->hello.node_id, sizeof hello->hello.node_id, "%.32s-flood-%llu",
                  own, (unsigned long long) i);
        fg_trn_send (self, hello);
    }
    memcpy (hello->hello.node_id, own, sizeof own);
}

void
fg_trn_fault_free (fg_trn_t *self)
{
    free (self->prev_update);
    self->prev_update = NULL;
    free (self->prev_loss);
    self->prev_loss = NULL;
}
