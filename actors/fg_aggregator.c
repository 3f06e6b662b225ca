/*  fg_aggregator.c — the aggregator actor: folds a round's accepted
    updates (lib/fg_aggregate: in shard order, double precision) and
    evaluates the new global weights on the test set, in its own thread so
    the coordinator keeps answering heartbeats meanwhile.                 */

#include "fg_actors_internal.h"
#include "fg_clock.h"
#include "fg_crash.h"
#include "fg_unit.h"

#include <stdlib.h>
#include <string.h>

void
fg_aggregator_result_destroy (fg_aggregator_result_t **self_p)
{
    if (self_p && *self_p) {
        fg_state_destroy (&(*self_p)->weights);
        fg_state_destroy (&(*self_p)->momentum);
        free (*self_p);
        *self_p = NULL;
    }
}

static uint32_t
s_pop_u32 (zmsg_t *msg)
{
    char *text = zmsg_popstr (msg);
    uint32_t value = text? (uint32_t) strtoul (text, NULL, 10): 0;
    zstr_free (&text);
    return value;
}

//  The evaluation's model and buffers are built at the first FINISH and
//  kept (*eval) for every later round.
static fg_aggregator_result_t *
s_finish (fg_aggregate_t *aggregator, const fg_aggregator_args_t *a, fg_unit_eval_t **eval)
{
    fg_aggregator_result_t *result = calloc (1, sizeof *result);
    if (!result)
        return NULL;
    double start = fg_clock_mono_s ();
    fg_crash_point ("aggregator.fold");
    result->rc = fg_aggregate_finish (aggregator, &result->weights, &result->err);
    result->fold_seconds = fg_clock_mono_s () - start;
    const fg_state_t *momentum = fg_aggregate_momentum (aggregator);
    if (result->rc == 0 && momentum) {
        //  a copy: the coordinator journals it with the round's weights
        result->momentum = fg_state_dup (momentum);
        if (!result->momentum)
            result->rc = fg_error_set (&result->err, FG_ENOMEM,
                                       "aggregator: out of memory (momentum buffer)");
    }
    if (result->rc == 0) {
        start = fg_clock_mono_s ();
        if (!*eval)
            *eval = fg_unit_eval_new (&a->model, a->eval_batch, a->threads, &result->err);
        result->rc = *eval? fg_unit_eval_run (*eval, result->weights, a->test, a->test_count,
                                              &result->eval, &result->err)
                          : (result->err.code? result->err.code: FG_ENOMEM);
        result->eval_seconds = fg_clock_mono_s () - start;
    }
    return result;
}

void
fg_aggregator_actor (zsock_t *pipe, void *args)
{
    fg_aggregator_args_t *a = (fg_aggregator_args_t *) args;
    fg_aggregator_args_t self = *a;     //  args live only until the signal
    fg_aggregate_t *aggregator = fg_aggregate_new (&self.params, &a->err);
    if (aggregator && a->momentum
    &&  fg_aggregate_set_momentum (aggregator, a->momentum, &a->err))
        fg_aggregate_destroy (&aggregator);    //  resume: the journaled buffer
    a->status = aggregator? 0: (a->err.code? a->err.code: FG_ENOMEM);
    zsock_signal (pipe, 0);
    fg_unit_eval_t *eval = NULL;
    while (aggregator) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        char *command = zmsg_popstr (msg);
        bool term = !command || strcmp (command, "$TERM") == 0;
        fg_error_t err;
        fg_error_clear (&err);
        if (!term && strcmp (command, "BEGIN") == 0) {
            uint32_t nshards = s_pop_u32 (msg);
            zframe_t *frame = zmsg_pop (msg);
            const fg_state_t *global = frame && zframe_size (frame) == sizeof (void *)
                                     ? *(const fg_state_t **) zframe_data (frame): NULL;
            zframe_destroy (&frame);
            int rc = global? fg_aggregate_begin (aggregator, global, nshards, &err)
                           : fg_error_set (&err, FG_EINVAL, "aggregator: BEGIN without state");
            zsock_send (pipe, "is", rc, err.msg);
        }
        else
        if (!term && strcmp (command, "ADD") == 0) {
            uint32_t shard = s_pop_u32 (msg);
            char *text = zmsg_popstr (msg);
            uint64_t samples = text? strtoull (text, NULL, 10): 0;
            zstr_free (&text);
            zframe_t *frame = zmsg_pop (msg);
            fg_state_t *update = frame && zframe_size (frame) == sizeof (void *)
                               ? *(fg_state_t **) zframe_data (frame): NULL;
            zframe_destroy (&frame);
            int rc = update? fg_aggregate_add (aggregator, shard, samples, &update, &err)
                           : fg_error_set (&err, FG_EINVAL, "aggregator: ADD without update");
            fg_state_destroy (&update);
            zsock_send (pipe, "is", rc, err.msg);
        }
        else
        if (!term && strcmp (command, "FINISH") == 0)
            zsock_send (pipe, "p", s_finish (aggregator, &self, &eval));
        zstr_free (&command);
        zmsg_destroy (&msg);
        if (term)
            break;
    }
    fg_unit_eval_destroy (&eval);
    fg_aggregate_destroy (&aggregator);
}
