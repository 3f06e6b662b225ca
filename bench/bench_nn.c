/*  bench_nn.c — training and inference throughput of the fedgrid models
    (nn/fg_model.h, nn/fg_train.h) on this machine, with the GFLOPS they
    reach against the peak of a big square sgemm (fg_gemm), and each
    configuration's peak resident memory.

        bench/bench_nn [-m model[,model...]] [-b batch[,batch...]]
                       [-t threads[,threads...]] [-r reps] [-s seconds]
                       [-w warmup] [-q max_wait] [-p] [-P gf1,gf2] [-L] [-E]
    defaults: every model, -b 10,32, -t 1,2, -r 5, -s 0.3, -w 2.
    -P: use these 1- and 2-thread peaks (GFLOPS) instead of measuring.
    -p: the sgemm peak only.  Quick run: bench/bench_nn -m cnn-small -r 3
    -q: before each configuration wait (at most max_wait s) until other
        processes leave the machine >= 90% idle for a second.
    -L: per-layer profile instead (time by layer kind, forward/backward,
        GFLOPS of the convolutions; see s_profile).
    -E: the same for the eval-mode forward (BN on running statistics), then
        the model's whole eval pass (fg_model_forward, fused layers included).

    Models and inputs (as docs/benchmarks.md): cnn-small 28x28x1 10
    classes; vgg16-bn 32x32x3 10 classes; mobilenetv3-small and
    mobilenetv3-large 64x64x3 200 classes. Inputs uniform in [-1, 1),
    labels uniform, from FG_RNG_SYNTHETIC streams; SGD lr 0.01, momentum
    0.9, weight decay 5e-4.

    Method. Each configuration runs in a forked child (so ru_maxrss from
    wait4 is that configuration's peak RSS: model, optimiser, workspace,
    BLIS buffers). Training = fg_train_step (zero grads, forward, loss,
    backward, SGD update). Inference = fg_train_evaluate of one batch
    (eval-mode forward and loss). After `warmup` untimed steps, one step
    is timed to size a repetition to >= `seconds` of work (whole steps);
    the figure printed is the median over `reps` repetitions of images/s.
    Forward FLOPs are counted from the model's layer list: 2 * MACs of the
    convolutions and linear layers (BN, activations, pooling not counted);
    training is taken as 3x forward. Peak: fg_gemm 2000^3 (rows and
    columns unit-stride, the conv GEMMs' form), median of 3 after one
    warm-up, at 1 and at 2 threads.

    Output: '#' lines are comments; data lines are
        model batch threads train_img_s infer_img_s fwd_mflop_img
        train_gflops infer_gflops train_pct_peak maxrss_mb others_pct
    others_pct: CPU used by OTHER processes (and VM steal) during the
    configuration's run, in % of the machine (/proc/stat minus the child's
    own rusage): the noise indicator of that row.
    (same columns as bench/bench_torch.py, so bench/compare.sh can join
    them). Never run by make check (built only, so it keeps compiling). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <blis.h>
#include "bench_median.h"
#include "fg_clock.h"
#include "fg_gemm.h"

#include "fg_model.h"
#include "fg_model_internal.h"
#include "fg_ops.h"
#include "fg_optim.h"
#include "fg_rng.h"
#include "fg_train.h"

#define S_MAX_LIST 8

typedef struct {
    const char *name;
    int kind;
    uint32_t classes, height, width, channels;
} s_model_t;

static const s_model_t s_models [] = {
    { "cnn-small",         FG_MODEL_CNN_SMALL,          10, 28, 28, 1 },
    { "vgg16-bn",          FG_MODEL_VGG16_BN,           10, 32, 32, 3 },
    { "mobilenetv3-small", FG_MODEL_MOBILENETV3_SMALL, 200, 64, 64, 3 },
    { "mobilenetv3-large", FG_MODEL_MOBILENETV3_LARGE, 200, 64, 64, 3 },
};
#define S_NMODELS (sizeof s_models / sizeof s_models [0])

typedef struct {
    int ok;                     //  1 when the run succeeded
    double train_img_s, infer_img_s;
    double fwd_flop;            //  per image
    uint64_t params;
    int train_steps, infer_steps;   //  steps per repetition
    char msg [FG_ERROR_MSG_MAX];
} s_result_t;

//  Busy and total CPU seconds of the whole machine so far (/proc/stat;
//  steal counts as busy: on a VM it is someone else's work).
static int
s_cpu_seconds (double *busy, double *total)
{
    FILE *f = fopen ("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v [8] = { 0 };
    int n = fscanf (f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
                    &v [0], &v [1], &v [2], &v [3], &v [4], &v [5], &v [6], &v [7]);
    fclose (f);
    if (n < 8)
        return -1;
    double hz = (double) sysconf (_SC_CLK_TCK);
    *busy = (double) (v [0] + v [1] + v [2] + v [5] + v [6] + v [7]) / hz;
    *total = *busy + (double) (v [3] + v [4]) / hz;
    return 0;
}

//  -q: waits (at most max_wait s) until the other processes leave the
//  machine >= 90% idle over one second. Returns the busy share last seen.
static double
s_wait_quiet (double max_wait)
{
    double start = fg_clock_mono_s (), share = 0;
    do {
        double b0, t0, b1, t1;
        if (s_cpu_seconds (&b0, &t0))
            return 0;
        sleep (1);
        if (s_cpu_seconds (&b1, &t1) || t1 <= t0)
            return 0;
        share = (b1 - b0) / (t1 - t0);
        if (share < 0.1)
            break;
    } while (fg_clock_mono_s () - start < max_wait);
    return share;
}

//  Forward FLOPs per image: 2 * MACs of conv and linear layers.
static double
s_forward_flop (const fg_model_t *model)
{
    double flop = 0;
    for (size_t i = 0; i < model->nlayers; i++) {
        const fg_mx_layer_t *l = &model->layers [i];
        const fg_mx_tensor_t *out = &model->tensors [l->out];
        if (l->op == FG_MX_CONV)
            flop += 2.0 * out->h * out->w * l->cout * (double) (l->cin / l->groups) * l->k * l->k;
        else
        if (l->op == FG_MX_LINEAR)
            flop += 2.0 * l->cin * (double) l->cout;
    }
    return flop;
}

//  ---------------------------------------------------------------------------
//  sgemm peak

static double
s_sgemm_gflops (int threads, dim_t n)
{
    float *a = malloc ((size_t) (n * n) * sizeof (float));
    float *b = malloc ((size_t) (n * n) * sizeof (float));
    float *c = malloc ((size_t) (n * n) * sizeof (float));
    if (!a || !b || !c) {
        free (a);
        free (b);
        free (c);
        return 0;
    }
    for (dim_t i = 0; i < n * n; i++) {
        a [i] = (float) ((i * 7) % 13) * 0.01f;
        b [i] = (float) ((i * 5) % 11) * 0.01f;
        c [i] = 0;
    }
    double times [3];
    for (int rep = -1; rep < 3; rep++) {
        double t0 = fg_clock_mono_s ();
        //  the GEMM the models run (nn/fg_gemm.h, the process's variant)
        fg_gemm (FG_GEMM_AUTO, threads, "peak", (size_t) n, (size_t) n, (size_t) n, 1.0f,
                 a, (size_t) n, 1, b, (size_t) n, 1, 0.0f, c, (size_t) n, 1, NULL);
        double t = fg_clock_mono_s () - t0;
        if (rep >= 0)
            times [rep] = t;
    }
    free (a);
    free (b);
    free (c);
    return 2.0 * (double) n * (double) n * (double) n / bench_median (times, 3) / 1e9;
}

//  ---------------------------------------------------------------------------
//  One configuration (runs in the child)

static void
s_run (const s_model_t *m, uint32_t batch, int threads, int reps, int warmup, double seconds,
       s_result_t *res)
{
    memset (res, 0, sizeof *res);
    fg_error_t err;
    fg_error_clear (&err);
    fg_model_spec_t spec = { m->kind, m->classes, m->height, m->width, m->channels };
    fg_model_t *model = fg_model_new (&spec, &err);
    fg_optim_t *optim = NULL;
    fg_train_t *trainer = NULL;
    float *images = NULL;
    uint16_t *labels = NULL;
    if (!model)
        goto fail;
    fg_model_init (model, 1);
    res->fwd_flop = s_forward_flop (model);
    res->params = fg_model_param_count (model);
    fg_optim_config_t oc;
    memset (&oc, 0, sizeof oc);
    oc.lr = 0.01;
    oc.momentum = 0.9;
    oc.weight_decay = 5e-4;
    oc.schedule = FG_SCHEDULE_CONSTANT;
    oc.gamma = 1.0;
    oc.horizon = 1.0;
    optim = fg_optim_new (&oc, fg_model_state (model), &err);
    if (!optim)
        goto fail;
    trainer = fg_train_new (model, optim, batch, threads, &err);
    if (!trainer)
        goto fail;
    size_t per = (size_t) m->height * m->width * m->channels;
    images = malloc ((size_t) batch * per * sizeof (float));
    labels = malloc ((size_t) batch * sizeof *labels);
    if (!images || !labels) {
        fg_error_set (&err, FG_ENOMEM, "bench_nn: out of memory");
        goto fail;
    }
    fg_rng_t rng;
    fg_rng_init (&rng, 20261127, FG_RNG_SYNTHETIC, 0, 0, 0, 0);
    for (size_t i = 0; i < (size_t) batch * per; i++)
        images [i] = 2.0f * fg_rng_uniform (&rng) - 1.0f;
    for (uint32_t i = 0; i < batch; i++)
        labels [i] = (uint16_t) fg_rng_below (&rng, m->classes);

    //  training
    fg_train_keys_t keys = { 1, 0, 0, 0, 0 };
    for (int i = 0; i < warmup; i++) {
        keys.step++;
        if (fg_train_step (trainer, images, labels, batch, 0.01, &keys, NULL, &err))
            goto fail;
    }
    double t0 = fg_clock_mono_s ();
    keys.step++;
    if (fg_train_step (trainer, images, labels, batch, 0.01, &keys, NULL, &err))
        goto fail;
    double one = fg_clock_mono_s () - t0;
    int steps = (int) (seconds / one) + 1;
    double rate [64];
    if (reps > 64)
        reps = 64;
    for (int r = 0; r < reps; r++) {
        t0 = fg_clock_mono_s ();
        for (int s = 0; s < steps; s++) {
            keys.step++;
            if (fg_train_step (trainer, images, labels, batch, 0.01, &keys, NULL, &err))
                goto fail;
        }
        rate [r] = (double) steps * batch / (fg_clock_mono_s () - t0);
    }
    res->train_img_s = bench_median (rate, reps);
    res->train_steps = steps;

    //  inference
    fg_train_result_t out;
    for (int i = 0; i < warmup; i++)
        if (fg_train_evaluate (trainer, images, labels, batch, batch, &out, &err))
            goto fail;
    t0 = fg_clock_mono_s ();
    if (fg_train_evaluate (trainer, images, labels, batch, batch, &out, &err))
        goto fail;
    one = fg_clock_mono_s () - t0;
    steps = (int) (seconds / one) + 1;
    for (int r = 0; r < reps; r++) {
        t0 = fg_clock_mono_s ();
        for (int s = 0; s < steps; s++)
            if (fg_train_evaluate (trainer, images, labels, batch, batch, &out, &err))
                goto fail;
        rate [r] = (double) steps * batch / (fg_clock_mono_s () - t0);
    }
    res->infer_img_s = bench_median (rate, reps);
    res->infer_steps = steps;
    res->ok = 1;
fail:
    if (!res->ok)
        snprintf (res->msg, sizeof res->msg, "%s", err.msg);
    free (images);
    free (labels);
    fg_train_destroy (&trainer);
    fg_optim_destroy (&optim);
    fg_model_destroy (&model);
}

//  Runs s_run in a child; returns its peak RSS (KiB) in *maxrss_kb.
static int
s_run_child (const s_model_t *m, uint32_t batch, int threads, int reps, int warmup,
             double seconds, s_result_t *res, long *maxrss_kb, double *others)
{
    double busy0 = 0, total0 = 0, busy1 = 0, total1 = 0;
    *others = -1;
    int fds [2];
    if (pipe (fds))
        return -1;
    fflush (stdout);
    int have_stat = s_cpu_seconds (&busy0, &total0) == 0;
    pid_t pid = fork ();
    if (pid < 0) {
        close (fds [0]);
        close (fds [1]);
        return -1;
    }
    if (pid == 0) {
        close (fds [0]);
        s_result_t r;
        s_run (m, batch, threads, reps, warmup, seconds, &r);
        ssize_t w = write (fds [1], &r, sizeof r);
        _exit (w == (ssize_t) sizeof r? 0: 1);
    }
    close (fds [1]);
    size_t got = 0;
    while (got < sizeof *res) {
        ssize_t n = read (fds [0], (char *) res + got, sizeof *res - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fds [0]);
    int status;
    struct rusage ru;
    while (wait4 (pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return -1;
    *maxrss_kb = ru.ru_maxrss;
    if (have_stat && s_cpu_seconds (&busy1, &total1) == 0 && total1 > total0) {
        double mine = (double) ru.ru_utime.tv_sec + 1e-6 * (double) ru.ru_utime.tv_usec
                    + (double) ru.ru_stime.tv_sec + 1e-6 * (double) ru.ru_stime.tv_usec;
        double share = (busy1 - busy0 - mine) / (total1 - total0);
        *others = share < 0? 0: 100.0 * share;
    }
    if (got != sizeof *res || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        memset (res, 0, sizeof *res);
        snprintf (res->msg, sizeof res->msg, "child failed (status %d)", status);
    }
    return 0;
}

//  ---------------------------------------------------------------------------
//  -L: where a training step's time goes. Every layer of the model is run
//  on its own (same kernel calls and shapes as fg_model.c, random data),
//  forward (training mode) and backward, and the times are summed by kind.

enum { K_CONV3, K_CONV5, K_CONV1, K_DW, K_LINEAR, K_BN, K_ACT, K_POOL, K_OTHER, K_N };
static const char *s_kind_names [K_N] = {
    "conv 3x3 (im2col+gemm)", "conv 5x5/other", "conv 1x1 (gemm)", "conv depthwise",
    "linear", "batch norm", "activation", "max pool", "gap/scale/add/flatten/dropout" };

static int
s_layer_kind (const fg_mx_layer_t *l)
{
    switch (l->op) {
        case FG_MX_CONV:
            if (l->groups > 1 && l->groups == l->cin && l->groups == l->cout)
                return K_DW;
            return l->k == 1? K_CONV1: l->k == 3? K_CONV3: K_CONV5;
        case FG_MX_LINEAR:  return K_LINEAR;
        case FG_MX_BN:      return K_BN;
        case FG_MX_ACT:     return K_ACT;
        case FG_MX_MAXPOOL: return K_POOL;
        default:            return K_OTHER;
    }
}

static fg_act_t
s_act_of (int act)
{
    return act == FG_MX_ACT_RELU? FG_ACT_RELU: act == FG_MX_ACT_HARDSWISH? FG_ACT_HARDSWISH
         : act == FG_MX_ACT_HARDSIGMOID? FG_ACT_HARDSIGMOID: FG_ACT_IDENTITY;
}

//  One layer forward (fwd) or backward; buffers are big enough for any.
static int
s_layer_call (fg_ops_ctx_t *ctx, const fg_model_t *model, const fg_mx_layer_t *l, uint32_t n,
              bool fwd, bool eval, float *x, float *y, float *dy, float *dx, float *w, float *dw,
              float *aux, uint8_t *mask, fg_error_t *err)
{
    const fg_mx_tensor_t *t = &model->tensors [l->in];
    size_t hw = (size_t) t->h * t->w, count = (size_t) n * hw * t->c;
    switch (l->op) {
        case FG_MX_CONV: {
            fg_conv_shape_t s = { (int) n, (int) t->h, (int) t->w, (int) l->cin, (int) l->cout,
                                  (int) l->k, (int) l->k, (int) l->stride, (int) l->stride,
                                  (int) l->pad, (int) l->pad, (int) l->groups };
            const float *b = l->b >= 0? w: NULL;
            return fwd? fg_conv_forward (ctx, &s, x, w, b, y, err)
                      : fg_conv_backward (ctx, &s, x, w, dy, l->in == 0? NULL: dx, dw,
                                          l->b >= 0? aux: NULL, err);
        }
        case FG_MX_BN:
            return fwd? fg_bn_forward (n * hw, (int) t->c, x, w, w, aux, aux + t->c, 0.1f, 1e-5f,
                                       !eval, aux + 2 * t->c, aux + 3 * t->c, y, err)
                      : fg_bn_backward (n * hw, (int) t->c, x, w, aux + 2 * t->c, aux + 3 * t->c,
                                        true, dy, dx, dw, dw + t->c, err);
        case FG_MX_ACT:
            return fwd? fg_act_forward (s_act_of (l->act), count, x, y, err)
                      : fg_act_backward (s_act_of (l->act), count, x, dy, dx, err);
        case FG_MX_MAXPOOL: {
            fg_pool_shape_t s = { (int) n, (int) t->h, (int) t->w, (int) t->c, 2, 2, 2, 2, 0, 0 };
            return fwd? fg_maxpool_forward (&s, x, y, err): fg_maxpool_backward (&s, x, dy, dx, err);
        }
        case FG_MX_GAP:
            if (fwd)
                fg_gap_forward (n, hw, t->c, x, y);
            else
                fg_gap_backward (n, hw, t->c, dy, dx);
            return 0;
        case FG_MX_FLATTEN:
            if (fwd)
                fg_flatten_forward (n, t->h, t->w, t->c, x, y);
            else
                fg_flatten_backward (n, t->h, t->w, t->c, dy, dx);
            return 0;
        case FG_MX_LINEAR:
            return fwd? fg_linear_forward (ctx, (int) n, (int) l->cin, (int) l->cout, x, w, w, y, err)
                      : fg_linear_backward (ctx, (int) n, (int) l->cin, (int) l->cout, x, w, dy,
                                            dx, dw, aux, err);
        case FG_MX_DROPOUT: {
            fg_rng_t rng;
            fg_rng_init (&rng, 1, FG_RNG_DROPOUT, 0, 0, 0, 0);
            return fwd? fg_dropout_forward (count, l->p, &rng, 0, !eval, x, y, mask, err)
                      : fg_dropout_backward (count, l->p, mask, dy, dx, err);
        }
        case FG_MX_SCALE:
            if (fwd)
                fg_scale_forward (n, hw, t->c, x, aux, y);
            else
                fg_scale_backward (n, hw, t->c, x, aux, dy, dx, aux + (size_t) n * t->c);
            return 0;
        case FG_MX_ADD:
            if (fwd)
                fg_add_forward (count, x, dy, y);
            else {
                memcpy (dx, dy, count * sizeof (float));
                fg_acc (count, dy, y);
            }
            return 0;
        default:
            return 0;
    }
}

static int
s_profile (const s_model_t *m, uint32_t batch, int threads, int reps, bool eval)
{
    fg_error_t err;
    fg_error_clear (&err);
    fg_model_spec_t spec = { m->kind, m->classes, m->height, m->width, m->channels };
    fg_model_t *model = fg_model_new (&spec, &err);
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (threads);
    if (!model || !ctx) {
        fprintf (stderr, "bench_nn: %s\n", err.msg);
        return -1;
    }
    size_t big = 0, wmax = 0;
    for (size_t i = 0; i < model->ntensors; i++) {
        size_t c = (size_t) batch * model->tensors [i].h * model->tensors [i].w * model->tensors [i].c;
        big = c > big? c: big;
    }
    for (size_t i = 0; i < model->state->nviews; i++)
        wmax = model->state->views [i].count > wmax? model->state->views [i].count: wmax;
    wmax += 4096;
    float *buf [7];
    size_t sizes [7] = { big, big, big, big, wmax, wmax, big + wmax };
    fg_rng_t rng;
    fg_rng_init (&rng, 7, FG_RNG_SYNTHETIC, 0, 0, 0, 1);
    for (int i = 0; i < 7; i++) {
        buf [i] = malloc (sizes [i] * sizeof (float));
        if (!buf [i])
            return -1;
        for (size_t j = 0; j < sizes [i]; j++)
            buf [i] [j] = 0.1f * (fg_rng_uniform (&rng) - 0.5f) + (i == 6? 1.0f: 0.0f);
    }
    uint8_t *mask = calloc (big, 1);
    double fwd_ms [K_N] = { 0 }, bwd_ms [K_N] = { 0 }, flop [K_N] = { 0 };
    int count [K_N] = { 0 };
    double times [64];
    //  one thread: the process's CPU time, robust to other processes on a
    //  shared machine (they take the core, not our CPU seconds)
    double (*clock) (void) = threads == 1? fg_clock_cpu_s: fg_clock_mono_s;
    for (size_t li = 0; li < model->nlayers; li++) {
        const fg_mx_layer_t *l = &model->layers [li];
        int kind = s_layer_kind (l);
        count [kind]++;
        if (l->op == FG_MX_CONV) {
            const fg_mx_tensor_t *o = &model->tensors [l->out];
            flop [kind] += 2.0 * batch * o->h * o->w * l->cout * (double) (l->cin / l->groups)
                         * l->k * l->k;
        }
        else
        if (l->op == FG_MX_LINEAR)
            flop [kind] += 2.0 * batch * l->cin * (double) l->cout;
        for (int dir = 0; dir < (eval? 1: 2); dir++) {
            for (int r = -1; r < reps; r++) {
                double t0 = clock ();
                if (s_layer_call (ctx, model, l, batch, dir == 0, eval, buf [0], buf [1], buf [2], buf [3],
                                  buf [4], buf [5], buf [6], mask, &err)) {
                    fprintf (stderr, "bench_nn: layer %zu: %s\n", li, err.msg);
                    return -1;
                }
                if (r >= 0)
                    times [r] = clock () - t0;
            }
            (dir == 0? fwd_ms: bwd_ms) [kind] += 1e3 * bench_median (times, reps);
        }
    }
    double total = 0;
    for (int k = 0; k < K_N; k++)
        total += fwd_ms [k] + bwd_ms [k];
    printf ("# per-layer profile: %s batch %u threads %d (median of %d calls per layer, %s)%s\n",
            m->name, batch, threads, reps, threads == 1? "CPU time": "wall time",
            eval? ", eval-mode forward only": "");
    printf ("# %-30s %5s %9s %9s %6s %8s %8s\n", "kind", "count", "fwd_ms", "bwd_ms", "%step",
            "fwd_GF", "bwd_GF");
    for (int k = 0; k < K_N; k++) {
        if (!count [k])
            continue;
        printf ("  %-30s %5d %9.2f %9.2f %6.1f %8.2f %8.2f\n", s_kind_names [k], count [k],
                fwd_ms [k], bwd_ms [k], 100.0 * (fwd_ms [k] + bwd_ms [k]) / total,
                fwd_ms [k] > 0? flop [k] / fwd_ms [k] / 1e6: 0,
                bwd_ms [k] > 0? 2 * flop [k] / bwd_ms [k] / 1e6: 0);
    }
    printf ("  %-30s %5s %9.2f ms per %s (kernels only; %.1f img/s)\n", "total", "",
            total, eval? "eval forward": "training step", 1e3 * batch / total);
    if (eval) {
        //  the model's own eval pass (fg_model_forward: what fusion saves)
        fg_model_init (model, 1);
        fg_model_ws_t *ws = fg_model_ws_new (model, batch, threads, &err);
        const float *logits;
        for (int r = -1; ws && r < reps; r++) {
            double t0 = clock ();
            if (fg_model_forward (model, ws, buf [0], batch, false, NULL, &logits, &err))
                break;
            if (r >= 0)
                times [r] = clock () - t0;
            if (r == reps - 1)
                printf ("  %-30s %5s %9.2f ms (fg_model_forward, eval; %.1f img/s)\n", "model pass",
                        "", 1e3 * bench_median (times, reps),
                        batch / bench_median (times, reps));
        }
        fg_model_ws_destroy (&ws);
    }
    for (int i = 0; i < 7; i++)
        free (buf [i]);
    free (mask);
    fg_ops_ctx_destroy (&ctx);
    fg_model_destroy (&model);
    return 0;
}

//  Parses "a,b,c" of positive integers into v (up to S_MAX_LIST).
static int
s_parse_list (const char *arg, int *v)
{
    int n = 0;
    const char *p = arg;
    while (*p && n < S_MAX_LIST) {
        char *end;
        long x = strtol (p, &end, 10);
        if (end == p || x < 1 || x > 4096)
            return -1;
        v [n++] = (int) x;
        p = *end == ','? end + 1: end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: bench_nn [-m model[,model...]] [-b batch[,...]] [-t threads[,...]]\n"
                     "                [-r reps] [-s seconds] [-w warmup] [-q max_wait] [-p] [-P gf1,gf2] [-L] [-E]\n"
                     "models: cnn-small vgg16-bn mobilenetv3-small mobilenetv3-large\n");
}

int
main (int argc, char **argv)
{
    bool use [S_NMODELS] = { true, true, true, true };
    int batches [S_MAX_LIST] = { 10, 32 }, nbatches = 2;
    int threads [S_MAX_LIST] = { 1, 2 }, nthreads = 2;
    int reps = 5, warmup = 2;
    double seconds = 0.3;
    bool peak_only = false, profile = false, eval_profile = false;
    double quiet = 0, given_peak [3] = { 0, 0, 0 };
    int opt;
    while ((opt = getopt (argc, argv, "m:b:t:r:s:w:q:P:pLEh")) != -1) {
        switch (opt) {
            case 'm': {
                memset (use, 0, sizeof use);
                char *list = strdup (optarg), *save = NULL;
                for (char *tok = strtok_r (list, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
                    size_t i;
                    for (i = 0; i < S_NMODELS; i++)
                        if (strcmp (tok, s_models [i].name) == 0)
                            use [i] = true;
                    for (i = 0; i < S_NMODELS && strcmp (tok, s_models [i].name); i++)
                        ;
                    if (i == S_NMODELS) {
                        fprintf (stderr, "bench_nn: unknown model '%s'\n", tok);
                        free (list);
                        return 2;
                    }
                }
                free (list);
                break;
            }
            case 'b': nbatches = s_parse_list (optarg, batches); break;
            case 't': nthreads = s_parse_list (optarg, threads); break;
            case 'r': reps = atoi (optarg); break;
            case 'w': warmup = atoi (optarg); break;
            case 's': seconds = atof (optarg); break;
            case 'q': quiet = atof (optarg); break;
            case 'P':
                if (sscanf (optarg, "%lf,%lf", &given_peak [1], &given_peak [2]) != 2) {
                    s_usage ();
                    return 2;
                }
                break;
            case 'p': peak_only = true; break;
            case 'L': profile = true; break;
            case 'E': profile = eval_profile = true; break;
            default: s_usage (); return 2;
        }
    }
    if (nbatches < 1 || nthreads < 1 || reps < 1 || reps > 64 || warmup < 0
    ||  !(seconds >= 0 && seconds <= 600)) {
        s_usage ();
        return 2;
    }
    if (profile) {
        for (size_t mi = 0; mi < S_NMODELS; mi++)
            for (int bi = 0; use [mi] && bi < nbatches; bi++)
                for (int ti = 0; ti < nthreads; ti++)
                    if (s_profile (&s_models [mi], (uint32_t) batches [bi], threads [ti], reps,
                                   eval_profile))
                        return 1;
        return 0;
    }
    char info [128];
    fg_ops_blis_info (info, sizeof info);
    char host [64] = "?";
    gethostname (host, sizeof host - 1);
    double loadavg [3] = { 0, 0, 0 };
    getloadavg (loadavg, 3);
    printf ("# fedgrid bench_nn: gemm %s, host %s, %ld cpus online, load %.2f %.2f %.2f\n",
            info, host, sysconf (_SC_NPROCESSORS_ONLN), loadavg [0], loadavg [1], loadavg [2]);

    //  peak, in a child too (keeps the parent small before the forks)
    double peak [3] = { 0, 0, 0 };         //  by thread count 1, 2
    if (quiet > 0 && given_peak [1] <= 0)
        s_wait_quiet (quiet);
    if (given_peak [1] > 0)
        memcpy (peak, given_peak, sizeof peak);
    else {
        int fds [2];
        if (pipe (fds) == 0) {
            fflush (stdout);
            pid_t pid = fork ();
            if (pid == 0) {
                close (fds [0]);
                double p [3] = { 0, s_sgemm_gflops (1, 2000), s_sgemm_gflops (2, 2000) };
                ssize_t w = write (fds [1], p, sizeof p);
                _exit (w == (ssize_t) sizeof p? 0: 1);
            }
            close (fds [1]);
            if (pid > 0) {
                if (read (fds [0], peak, sizeof peak) != (ssize_t) sizeof peak)
                    memset (peak, 0, sizeof peak);
                waitpid (pid, NULL, 0);
            }
            close (fds [0]);
        }
    }
    printf ("# sgemm 2000x2000x2000 peak (fg_gemm): 1 thread %.1f GFLOPS, 2 threads %.1f GFLOPS%s\n",
            peak [1], peak [2], given_peak [1] > 0? " (given with -P)": "");
    if (peak_only)
        return 0;
    printf ("# reps %d (median), >= %.2f s each, warm-up %d steps; training = fg_train_step"
            " (SGD momentum 0.9, wd 5e-4), inference = fg_train_evaluate\n", reps, seconds, warmup);
    printf ("# %-17s %5s %3s %11s %11s %9s %8s %8s %6s %8s %7s\n", "model", "batch", "thr",
            "train_img/s", "infer_img/s", "fwd_MFLOP", "train_GF", "infer_GF", "%peak", "rss_MB",
            "others%");
    int failures = 0;
    for (size_t mi = 0; mi < S_NMODELS; mi++) {
        if (!use [mi])
            continue;
        for (int bi = 0; bi < nbatches; bi++)
            for (int ti = 0; ti < nthreads; ti++) {
                s_result_t res;
                long rss_kb = 0;
                double others = -1;
                int t = threads [ti];
                if (quiet > 0)
                    s_wait_quiet (quiet);
                if (s_run_child (&s_models [mi], (uint32_t) batches [bi], t, reps, warmup,
                                 seconds, &res, &rss_kb, &others) || !res.ok) {
                    printf ("# %s batch %d threads %d FAILED: %s\n", s_models [mi].name,
                            batches [bi], t, res.msg);
                    failures++;
                    continue;
                }
                double train_gf = 3.0 * res.fwd_flop * res.train_img_s / 1e9;
                double infer_gf = res.fwd_flop * res.infer_img_s / 1e9;
                double pk = t <= 2? peak [t]: peak [1] * t;
                printf ("  %-17s %5d %3d %11.1f %11.1f %9.2f %8.2f %8.2f %6.1f %8.1f %7.1f\n",
                        s_models [mi].name, batches [bi], t, res.train_img_s, res.infer_img_s,
                        res.fwd_flop / 1e6, train_gf, infer_gf,
                        pk > 0? 100.0 * train_gf / pk: 0.0, (double) rss_kb / 1024.0, others);
                fflush (stdout);
            }
    }
    return failures? 1: 0;
}
