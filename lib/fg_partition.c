/*  fg_partition.c — shards of the training set (see fg_partition.h and
    docs/partitioning.md, which states every rule implemented here).      */

#include "fg_partition.h"
#include "fg_log.h"
#include "fg_rng.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MARK_TAKEN    1u                //  already in the shard being built
#define MARK_PREVIOUS 2u                //  in the shard's previous-round content

struct fg_partition_s {
    fg_partition_params_t p;
    size_t    count;                    //  D
    uint32_t  classes;                  //  K
    uint16_t *labels;                   //  [D]
    size_t   *class_start;              //  [K + 1] into class_member
    uint32_t *class_member;             //  [D] class-major, ascending per class
    uint32_t  m;                        //  dominant classes per shard (skew)
    uint32_t *class_order;              //  [K] skew: the permutation pi
    uint32_t *class_pos;                //  [K] skew: pi^-1
    //  the last disjoint partition built (static, dynamic, hybrid round 0)
    bool      cached;
    uint32_t  cached_key;
    uint32_t *part;                     //  [D], shard s at s_offset (s)
    //  scratch
    uint8_t  *mark;                     //  [D]
    uint32_t *cand;                     //  [D] candidates / pool
    uint32_t *work;                     //  [D]
    uint32_t *kept_count;               //  [K]
    uint8_t  *class_flag;               //  [K]
    uint32_t *targets;                  //  [K] one shard's class targets
};

//  --------------------------------------------------------------------
//  Sizes and small helpers

static size_t
s_size (const fg_partition_t *self, uint32_t s)
{
    size_t base = self->count / self->p.nodes;
    return base + (s < self->count % self->p.nodes? 1: 0);
}

static size_t
s_offset (const fg_partition_t *self, uint32_t s)
{
    size_t base = self->count / self->p.nodes;
    size_t extra = self->count % self->p.nodes;
    return (size_t) s * base + (s < extra? s: extra);
}

//  round half up of x * n, x in [0, 1]
static size_t
s_round_share (double x, size_t n)
{
    double v = floor (x * (double) n + 0.5);
    if (v < 0)
        return 0;
    if (v > (double) n)
        return n;
    return (size_t) v;
}

static int
s_cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y? -1: x > y;
}

//  j-th dominant class of shard s (skew)
static uint32_t
s_dominant (const fg_partition_t *self, uint32_t s, uint32_t j)
{
    return self->class_order [((uint64_t) s * self->m + j) % self->classes];
}

//  Is class c dominant for shard s? O(1): c sits at pi position pos, and
//  shard s owns the m positions (s*m .. s*m+m-1) mod K.
static bool
s_is_dominant (const fg_partition_t *self, uint32_t s, uint32_t c)
{
    if (self->p.distribution != FG_DIST_SKEW)
        return false;
    uint64_t K = self->classes;
    uint64_t first = ((uint64_t) s * self->m) % K;
    uint64_t pos = self->class_pos [c];
    return (pos + K - first) % K < self->m;
}

//  Dominant-class targets of a skewed shard of size d: round (b*d) split
//  evenly over its m classes, the first (n % m) getting one more.
static size_t
s_dominant_target (const fg_partition_t *self, size_t d, uint32_t j)
{
    size_t n = s_round_share (self->p.balance, d);
    return n / self->m + (j < n % self->m? 1: 0);
}

typedef struct {
    double   frac;
    uint32_t index;
} s_rem_t;

static int
s_cmp_rem (const void *a, const void *b)
{
    const s_rem_t *x = a, *y = b;
    if (x->frac != y->frac)
        return x->frac > y->frac? -1: 1;        //  largest first
    return x->index < y->index? -1: x->index > y->index;
}

//  Largest-remainder split of total over weights w [0 .. n) (>= 0, sum >
//  0): out [i] = floor (total * w [i] / sum) plus one unit for the largest
//  fractional parts (ties: lower index). Sum of out is exactly total.
static int
s_split (const double *w, uint32_t n, size_t total, uint32_t *out)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += w [i];
    s_rem_t *rem = malloc ((n? n: 1) * sizeof *rem);
    if (!rem)
        return FG_ENOMEM;
    size_t given = 0;
    for (uint32_t i = 0; i < n; i++) {
        double x = (double) total * (w [i] / sum);
        double f = floor (x);
        if (f > (double) total)
            f = (double) total;
        out [i] = (uint32_t) f;
        rem [i].frac = x - f;
        rem [i].index = i;
        given += out [i];
    }
    qsort (rem, n, sizeof *rem, s_cmp_rem);
    //  rounding can leave given a little off total either way
    for (uint32_t i = 0; given < total; i = (i + 1) % n)
        if (w [rem [i].index] > 0) {
            out [rem [i].index]++;
            given++;
        }
    //  (too many: take back from the smallest fractional parts)
    for (uint32_t i = n; given > total; ) {
        i = (i == 0? n: i) - 1;
        if (out [rem [i].index] > 0) {
            out [rem [i].index]--;
            given--;
        }
    }
    free (rem);
    return 0;
}

//  Dirichlet class targets of shard s: g_c ~ Gamma (alpha * K * N_c / D)
//  from stream (seed, DIRICHLET, 0, s, 0, 0), c = 0 .. K-1 (no draw for an
//  empty class), then d_s split over g by largest remainder. If every g_c
//  underflows to 0, the whole shard goes to one non-empty class picked by
//  fg_rng_below on the same stream.
static int
s_dirichlet_targets (fg_partition_t *self, uint32_t s, uint32_t *out)
{
    uint32_t K = self->classes;
    double *g = malloc (K * sizeof *g);
    if (!g)
        return FG_ENOMEM;
    fg_rng_t rng;
    fg_rng_init (&rng, self->p.seed, FG_RNG_DIRICHLET, 0, s, 0, 0);
    double sum = 0;
    uint32_t nonempty = 0;
    for (uint32_t c = 0; c < K; c++) {
        size_t nc = self->class_start [c + 1] - self->class_start [c];
        g [c] = 0;
        if (nc) {
            double shape = self->p.alpha * (double) K * (double) nc / (double) self->count;
            g [c] = fg_rng_gamma (&rng, shape);
            sum += g [c];
            nonempty++;
        }
    }
    if (!(sum > 0) || !isfinite (sum)) {
        uint32_t pick = fg_rng_below (&rng, nonempty);
        for (uint32_t c = 0; c < K; c++) {
            size_t nc = self->class_start [c + 1] - self->class_start [c];
            g [c] = 0;
            if (nc && pick-- == 0)
                g [c] = 1;
        }
    }
    int rc = s_split (g, K, s_size (self, s), out);
    free (g);
    return rc;
}

//  --------------------------------------------------------------------
//  Construction

//  Skew: warns when dominant classes cannot supply round (b * d): a
//  dominant class smaller than one shard's share of it, or (disjoint
//  strategies) smaller than the sum of its shards' shares. The partition
//  is still built (docs/partitioning.md, "class exhaustion").
static void
s_warn_exhaustion (fg_partition_t *self)
{
    uint32_t K = self->classes, C = self->p.nodes;
    uint64_t *demand = calloc (K, sizeof *demand);
    uint64_t *single = calloc (K, sizeof *single);
    if (demand && single)
        for (uint32_t s = 0; s < C; s++)
            for (uint32_t j = 0; j < self->m; j++) {
                uint32_t c = s_dominant (self, s, j);
                uint64_t t = s_dominant_target (self, s_size (self, s), j);
                demand [c] += t;
                if (t > single [c])
                    single [c] = t;
            }
    bool disjoint = self->p.strategy != FG_STRATEGY_STOCHASTIC;
    uint32_t worst = K;
    double worst_ratio = 1;
    for (uint32_t c = 0; demand && single && c < K; c++) {
        double have = (double) (self->class_start [c + 1] - self->class_start [c]);
        uint64_t need = disjoint? demand [c]: single [c];
        if (need && (double) need / (have > 0? have: 0.5) > worst_ratio) {
            worst_ratio = (double) need / (have > 0? have: 0.5);
            worst = c;
        }
    }
    if (worst < K)
        fg_warn ("partition: skew: dominant class %u has %zu samples but its shards ask for "
                 "%llu (balance %g, %u dominant classes per shard, %u shards): those shards "
                 "get less than the balance; raise data.dominant_classes (about %u classes / "
                 "%u shards = %u)", worst,
                 self->class_start [worst + 1] - self->class_start [worst],
                 (unsigned long long) (disjoint? demand [worst]: single [worst]),
                 self->p.balance, self->m, C, K, C, (K + C - 1) / C);
    free (demand);
    free (single);
}

int
fg_partition_params_from_config (fg_partition_params_t *params, const fg_config_t *cfg,
                                 fg_error_t *err)
{
    assert (params && cfg);
    memset (params, 0, sizeof *params);
    if (cfg->grid.nodes < 0 || cfg->grid.nodes > UINT32_MAX)
        return fg_error_set (err, FG_ERANGE, "grid.nodes = %lld: not in 0 .. %u",
                             (long long) cfg->grid.nodes, UINT32_MAX);
    if (cfg->data.dominant_classes < 0 || cfg->data.dominant_classes > UINT32_MAX)
        return fg_error_set (err, FG_ERANGE, "data.dominant_classes = %lld: not in 0 .. %u",
                             (long long) cfg->data.dominant_classes, UINT32_MAX);
    params->strategy = cfg->data.strategy;
    params->distribution = cfg->data.distribution;
    params->balance = cfg->data.balance;
    params->dominant_classes = (uint32_t) cfg->data.dominant_classes;
    params->alpha = cfg->data.alpha;
    params->keep_fraction = cfg->data.keep_fraction;
    params->nodes = (uint32_t) cfg->grid.nodes;
    params->seed = (uint64_t) cfg->experiment.seed;
    return 0;
}

static int
s_check_params (const fg_partition_params_t *p, size_t count, uint32_t classes, fg_error_t *err)
{
    if (p->strategy < FG_STRATEGY_STOCHASTIC || p->strategy > FG_STRATEGY_HYBRID)
        return fg_error_set (err, FG_EINVAL, "partition: unknown strategy %d", p->strategy);
    if (p->distribution < FG_DIST_IID || p->distribution > FG_DIST_DIRICHLET)
        return fg_error_set (err, FG_EINVAL, "partition: unknown distribution %d", p->distribution);
    if (p->nodes == 0 || p->nodes > count)
        return fg_error_set (err, FG_EINVAL,
                             "partition: grid.nodes = %u: must be in 1 .. %zu (the training samples)",
                             p->nodes, count);
    if (!(p->keep_fraction >= 0 && p->keep_fraction <= 1))
        return fg_error_set (err, FG_EINVAL, "partition: data.keep_fraction = %g: not in [0, 1]",
                             p->keep_fraction);
    if (p->distribution == FG_DIST_SKEW) {
        if (!(p->balance >= 0 && p->balance <= 1))
            return fg_error_set (err, FG_EINVAL, "partition: data.balance = %g: not in [0, 1]",
                                 p->balance);
        if (classes < 2)
            return fg_error_set (err, FG_EINVAL,
                                 "partition: a skewed split needs at least 2 classes, the dataset has %u",
                                 classes);
        if (p->dominant_classes >= classes)
            return fg_error_set (err, FG_EINVAL,
                                 "partition: data.dominant_classes = %u: must be below the %u classes "
                                 "(0 = automatic)", p->dominant_classes, classes);
    }
    if (p->distribution == FG_DIST_DIRICHLET && !(p->alpha > 0 && isfinite (p->alpha)))
        return fg_error_set (err, FG_EINVAL, "partition: data.alpha = %g: must be a finite number > 0",
                             p->alpha);
    return 0;
}

fg_partition_t *
fg_partition_new (const uint16_t *labels, size_t count, uint32_t classes,
                  const fg_partition_params_t *params, fg_error_t *err)
{
    assert (params);
    if (!labels || count == 0 || count > UINT32_MAX) {
        fg_error_set (err, FG_EINVAL, "partition: %zu training samples: must be in 1 .. %u",
                      count, UINT32_MAX);
        return NULL;
    }
    if (classes == 0 || classes > FG_PARTITION_CLASSES_MAX) {
        fg_error_set (err, FG_EINVAL, "partition: %u classes: must be in 1 .. %d",
                      classes, FG_PARTITION_CLASSES_MAX);
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        if (labels [i] >= classes) {
            fg_error_set (err, FG_EINVAL, "partition: sample %zu has label %u, not below the %u classes",
                          i, labels [i], classes);
            return NULL;
        }
    if (s_check_params (params, count, classes, err))
        return NULL;

    fg_partition_t *self = calloc (1, sizeof *self);
    if (!self)
        goto nomem;
    self->p = *params;
    self->count = count;
    self->classes = classes;
    self->labels = malloc (count * sizeof *self->labels);
    self->class_start = calloc ((size_t) classes + 1, sizeof *self->class_start);
    self->class_member = malloc (count * sizeof *self->class_member);
    self->part = malloc (count * sizeof *self->part);
    self->mark = malloc (count);
    self->cand = malloc (count * sizeof *self->cand);
    self->work = malloc (count * sizeof *self->work);
    self->kept_count = calloc (classes, sizeof *self->kept_count);
    self->class_flag = calloc (classes, 1);
    self->targets = calloc (classes, sizeof *self->targets);
    if (!self->labels || !self->class_start || !self->class_member || !self->part
    ||  !self->mark || !self->cand || !self->work || !self->kept_count
    ||  !self->class_flag || !self->targets)
        goto nomem;
    memcpy (self->labels, labels, count * sizeof *labels);

    //  class lists by counting sort (ascending indices within a class)
    for (size_t i = 0; i < count; i++)
        self->class_start [labels [i] + 1]++;
    for (uint32_t c = 0; c < classes; c++)
        self->class_start [c + 1] += self->class_start [c];
    size_t *fill = malloc ((size_t) classes * sizeof *fill);
    if (!fill)
        goto nomem;
    memcpy (fill, self->class_start, (size_t) classes * sizeof *fill);
    for (size_t i = 0; i < count; i++)
        self->class_member [fill [labels [i]]++] = (uint32_t) i;
    free (fill);

    if (params->distribution == FG_DIST_SKEW) {
        uint32_t m = params->dominant_classes;
        if (m == 0) {
            m = (classes + params->nodes - 1) / params->nodes;
            if (m < 1)
                m = 1;
            if (m >= classes)
                m = classes - 1;
        }
        self->m = m;
        self->class_order = malloc ((size_t) classes * sizeof *self->class_order);
        self->class_pos = malloc ((size_t) classes * sizeof *self->class_pos);
        if (!self->class_order || !self->class_pos)
            goto nomem;
        fg_rng_t rng;
        fg_rng_init (&rng, params->seed, FG_RNG_SKEW, 0, 0, 0, 0);
        fg_rng_permutation (&rng, self->class_order, classes);
        for (uint32_t i = 0; i < classes; i++)
            self->class_pos [self->class_order [i]] = i;
        s_warn_exhaustion (self);
    }
    return self;

nomem:
    fg_partition_destroy (&self);
    fg_error_set (err, FG_ENOMEM, "partition: out of memory for %zu samples, %u classes",
                  count, classes);
    return NULL;
}

void
fg_partition_destroy (fg_partition_t **self_p)
{
    if (self_p && *self_p) {
        fg_partition_t *self = *self_p;
        free (self->labels);
        free (self->class_start);
        free (self->class_member);
        free (self->class_order);
        free (self->class_pos);
        free (self->part);
        free (self->mark);
        free (self->cand);
        free (self->work);
        free (self->kept_count);
        free (self->class_flag);
        free (self->targets);
        free (self);
        *self_p = NULL;
    }
}

uint32_t
fg_partition_nshards (const fg_partition_t *self)
{
    assert (self);
    return self->p.nodes;
}

size_t
fg_partition_shard_size (const fg_partition_t *self, uint32_t shard)
{
    assert (self);
    return shard < self->p.nodes? s_size (self, shard): 0;
}

uint32_t
fg_partition_dominant (const fg_partition_t *self, uint32_t shard, uint32_t *out)
{
    assert (self);
    if (self->p.distribution != FG_DIST_SKEW)
        return 0;
    if (out)
        for (uint32_t j = 0; j < self->m; j++)
            out [j] = s_dominant (self, shard, j);
    return self->m;
}

//  --------------------------------------------------------------------
//  Disjoint partitions (static, dynamic, hybrid round 0)

typedef struct {
    uint32_t cls, shard;
    uint32_t want;
} s_demand_t;

static int
s_cmp_demand (const void *a, const void *b)
{
    const s_demand_t *x = a, *y = b;
    if (x->cls != y->cls)
        return x->cls < y->cls? -1: 1;
    return x->shard < y->shard? -1: x->shard > y->shard;
}

//  Step A demands: (class, shard, want) sorted by class then shard.
static int
s_demands (fg_partition_t *self, s_demand_t **list_p, size_t *n_p)
{
    uint32_t C = self->p.nodes, K = self->classes;
    *list_p = NULL;
    *n_p = 0;
    size_t per = self->p.distribution == FG_DIST_SKEW? self->m:
                 self->p.distribution == FG_DIST_DIRICHLET? K: 0;
    if (per == 0)
        return 0;
    if (C > SIZE_MAX / sizeof (s_demand_t) / per)
        return FG_ENOMEM;
    s_demand_t *list = malloc ((size_t) C * per * sizeof *list);
    if (!list)
        return FG_ENOMEM;
    size_t n = 0;
    for (uint32_t s = 0; s < C; s++) {
        if (self->p.distribution == FG_DIST_SKEW)
            for (uint32_t j = 0; j < self->m; j++) {
                size_t want = s_dominant_target (self, s_size (self, s), j);
                if (want)
                    list [n++] = (s_demand_t) { s_dominant (self, s, j), s, (uint32_t) want };
            }
        else {
            int rc = s_dirichlet_targets (self, s, self->targets);
            if (rc) {
                free (list);
                return rc;
            }
            for (uint32_t c = 0; c < K; c++)
                if (self->targets [c])
                    list [n++] = (s_demand_t) { c, s, self->targets [c] };
        }
    }
    qsort (list, n, sizeof *list, s_cmp_demand);
    *list_p = list;
    *n_p = n;
    return 0;
}

typedef struct {
    uint64_t rem;
    size_t   at;                        //  index into the class's demand run
} s_grant_rem_t;

static int
s_cmp_grant (const void *a, const void *b)
{
    const s_grant_rem_t *x = a, *y = b;
    if (x->rem != y->rem)
        return x->rem > y->rem? -1: 1;
    return x->at < y->at? -1: x->at > y->at;
}

//  Step A, one class: grants of the run [first, first + n) of demands for
//  class c with `avail` samples. All demands are granted if they fit;
//  otherwise avail is split in proportion to the wants (integer largest
//  remainder, ties to the lower shard). Writes grants over want.
static int
s_grant (s_demand_t *run, size_t n, size_t avail)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += run [i].want;
    if (total <= avail)
        return 0;
    s_grant_rem_t *rem = malloc (n * sizeof *rem);
    if (!rem)
        return FG_ENOMEM;
    uint64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (uint64_t) run [i].want * avail;     //  <= D^2 < 2^64
        rem [i].rem = x % total;
        rem [i].at = i;
        run [i].want = (uint32_t) (x / total);
        given += run [i].want;
    }
    qsort (rem, n, sizeof *rem, s_cmp_grant);
    for (size_t i = 0; given < avail; i++, given++)
        run [rem [i].at].want++;
    free (rem);
    return 0;
}

static int
s_build_disjoint (fg_partition_t *self, uint32_t key, fg_error_t *err)
{
    if (self->cached && self->cached_key == key)
        return 0;
    self->cached = false;
    uint32_t C = self->p.nodes, K = self->classes;
    size_t D = self->count;
    fg_rng_t rng;
    fg_rng_init (&rng, self->p.seed, FG_RNG_PARTITION, key, 0, 0, 0);

    //  1. every class's members shuffled, classes in order
    uint32_t *shuffled = self->work;
    memcpy (shuffled, self->class_member, D * sizeof *shuffled);
    for (uint32_t c = 0; c < K; c++)
        fg_rng_shuffle (&rng, shuffled + self->class_start [c],
                        self->class_start [c + 1] - self->class_start [c]);

    size_t *have = calloc (C, sizeof *have);        //  filled so far per shard
    size_t *taken = calloc (K, sizeof *taken);      //  used so far per class
    size_t *a_end = calloc (C, sizeof *a_end);      //  end of step A per shard
    s_demand_t *list = NULL;
    size_t nlist = 0;
    int rc = FG_ENOMEM;
    if (!have || !taken || !a_end)
        goto done;

    //  2. step A: class-specific demands, granted within availability
    rc = s_demands (self, &list, &nlist);
    if (rc)
        goto done;
    for (size_t i = 0; i < nlist; ) {
        size_t j = i;
        uint32_t c = list [i].cls;
        while (j < nlist && list [j].cls == c)
            j++;
        size_t avail = self->class_start [c + 1] - self->class_start [c];
        rc = s_grant (list + i, j - i, avail);
        if (rc)
            goto done;
        for (size_t k = i; k < j; k++) {
            uint32_t s = list [k].shard;
            for (uint32_t n = 0; n < list [k].want; n++)
                self->part [s_offset (self, s) + have [s]++] =
                    shuffled [self->class_start [c] + taken [c]++];
        }
        i = j;
    }
    for (uint32_t s = 0; s < C; s++)
        a_end [s] = have [s];

    //  3. step B: the rest of every class, shuffled, dealt to shards in
    //  order; a sample a shard may not take (skew: its dominant class)
    //  waits in a FIFO for the next shard that may.
    uint32_t *pool = self->cand;
    size_t npool = 0;
    for (uint32_t c = 0; c < K; c++)
        for (size_t k = taken [c]; k < self->class_start [c + 1] - self->class_start [c]; k++)
            pool [npool++] = shuffled [self->class_start [c] + k];
    fg_rng_shuffle (&rng, pool, npool);
    uint32_t *fifo = shuffled;                      //  class lists no longer needed
    size_t nfifo = 0, next = 0;
    for (uint32_t s = 0; s < C; s++) {
        size_t need = s_size (self, s) - have [s];
        uint32_t *dst = self->part + s_offset (self, s);
        size_t kept = 0;
        for (size_t k = 0; k < nfifo; k++) {
            uint32_t x = fifo [k];
            if (need && !s_is_dominant (self, s, self->labels [x])) {
                dst [have [s]++] = x;
                need--;
            }
            else
                fifo [kept++] = x;
        }
        nfifo = kept;
        while (need && next < npool) {
            uint32_t x = pool [next++];
            if (s_is_dominant (self, s, self->labels [x]))
                fifo [nfifo++] = x;
            else {
                dst [have [s]++] = x;
                need--;
            }
        }
    }
    //  4. what is left in the FIFO went past the shards that could take
    //  it: give each to the first shard still short that may take it, or
    //  exchange it for a step-B sample of an earlier shard (that shard
    //  may take it, and the short shard may take the one it gives up);
    //  only when no exchange exists does a shard take a sample of its own
    //  dominant class.
    for (uint32_t s = 0; s < C && nfifo; s++) {
        uint32_t *dst = self->part + s_offset (self, s);
        while (have [s] < s_size (self, s) && nfifo) {
            size_t k = 0;
            while (k < nfifo && s_is_dominant (self, s, self->labels [fifo [k]]))
                k++;
            uint32_t x;
            if (k < nfifo)
                x = fifo [k];
            else {
                k = 0;
                x = fifo [0];
                uint32_t cx = self->labels [x];
                bool swapped = false;
                for (uint32_t t = 0; t < C && !swapped; t++) {
                    if (t == s || s_is_dominant (self, t, cx))
                        continue;
                    uint32_t *tb = self->part + s_offset (self, t);
                    for (size_t q = a_end [t]; q < have [t]; q++)
                        if (!s_is_dominant (self, s, self->labels [tb [q]])) {
                            uint32_t y = tb [q];
                            tb [q] = x;
                            x = y;
                            swapped = true;
                            break;
                        }
                }
            }
            dst [have [s]++] = x;
            memmove (fifo + k, fifo + k + 1, (nfifo - k - 1) * sizeof *fifo);
            nfifo--;
        }
    }
    rc = 0;
    for (uint32_t s = 0; s < C; s++) {
        if (FG_NEVER (have [s] != s_size (self, s))) {
            rc = FG_EINVAL;
            goto done;
        }
        qsort (self->part + s_offset (self, s), s_size (self, s), sizeof (uint32_t), s_cmp_u32);
    }
    self->cached = true;
    self->cached_key = key;

done:
    free (have);
    free (taken);
    free (a_end);
    free (list);
    if (rc == FG_ENOMEM)
        fg_error_set (err, rc, "partition: out of memory building round key %u", key);
    else
    if (rc)
        fg_error_set (err, rc, "partition: internal error building round key %u", key);
    return rc;
}

//  --------------------------------------------------------------------
//  One shard drawn on its own (stochastic; hybrid rounds > 0)

//  Draws up to n distinct samples of the classes in `cls` (ncls of them;
//  NULL = every class not flagged in self->class_flag), not yet taken and,
//  unless with_previous, not in the previous content. Candidates are
//  listed class by class in ascending index order; the first n positions
//  of a forward Fisher-Yates (j = i + below (count - i)) are taken.
static size_t
s_draw (fg_partition_t *self, fg_rng_t *rng, const uint32_t *cls, uint32_t ncls,
        bool with_previous, size_t n, uint32_t *out, size_t *len)
{
    if (n == 0)
        return 0;
    uint8_t skip = with_previous? MARK_TAKEN: MARK_TAKEN | MARK_PREVIOUS;
    size_t ncand = 0;
    uint32_t nc = cls? ncls: self->classes;
    for (uint32_t k = 0; k < nc; k++) {
        uint32_t c = cls? cls [k]: k;
        if (!cls && self->class_flag [c])
            continue;
        for (size_t i = self->class_start [c]; i < self->class_start [c + 1]; i++) {
            uint32_t x = self->class_member [i];
            if (!(self->mark [x] & skip))
                self->cand [ncand++] = x;
        }
    }
    size_t take = n < ncand? n: ncand;
    for (size_t i = 0; i < take; i++) {
        size_t j = i + fg_rng_below (rng, (uint32_t) (ncand - i));
        uint32_t x = self->cand [j];
        self->cand [j] = self->cand [i];
        self->cand [i] = x;
        self->mark [x] |= MARK_TAKEN;
        out [(*len)++] = x;
    }
    return take;
}

//  Draws n from the class list, then (short) again allowing previous
//  samples.
static void
s_draw2 (fg_partition_t *self, fg_rng_t *rng, const uint32_t *cls, uint32_t ncls,
         size_t n, uint32_t *out, size_t *len)
{
    size_t got = s_draw (self, rng, cls, ncls, false, n, out, len);
    s_draw (self, rng, cls, ncls, true, n - got, out, len);
}

static int
s_check_prev (const fg_partition_t *self, uint32_t s, const uint32_t *sorted, size_t count,
              fg_error_t *err)
{
    if (count != s_size (self, s))
        return fg_error_set (err, FG_EINVAL, "partition: shard %u: previous content has %zu samples, "
                             "expected %zu", s, count, s_size (self, s));
    for (size_t i = 0; i < count; i++) {
        if (sorted [i] >= self->count)
            return fg_error_set (err, FG_EINVAL, "partition: shard %u: previous content holds index "
                                 "%u, beyond the %zu samples", s, sorted [i], self->count);
        if (i && sorted [i] == sorted [i - 1])
            return fg_error_set (err, FG_EINVAL, "partition: shard %u: previous content holds index "
                                 "%u twice", s, sorted [i]);
    }
    return 0;
}

//  Shard s of round r drawn alone: stream (seed, SAMPLE, r, s, 0, 0).
//  prev (hybrid) is the previous content, NOT yet validated.
static int
s_build_one (fg_partition_t *self, uint32_t round, uint32_t s,
             const uint32_t *prev, size_t prev_count, uint32_t *out, fg_error_t *err)
{
    size_t D = self->count, d = s_size (self, s), len = 0;
    uint32_t K = self->classes;
    fg_rng_t rng;
    fg_rng_init (&rng, self->p.seed, FG_RNG_SAMPLE, round, s, 0, 0);
    memset (self->mark, 0, D);
    memset (self->kept_count, 0, K * sizeof *self->kept_count);
    memset (self->class_flag, 0, K);

    if (prev) {
        //  keep round (keep_fraction * d) of the sorted previous content:
        //  the first k positions of a forward Fisher-Yates over it
        uint32_t *sorted = self->work;
        memcpy (sorted, prev, prev_count * sizeof *sorted);
        qsort (sorted, prev_count, sizeof *sorted, s_cmp_u32);
        int rc = s_check_prev (self, s, sorted, prev_count, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < prev_count; i++)
            self->mark [sorted [i]] = MARK_PREVIOUS;
        size_t k = s_round_share (self->p.keep_fraction, d);
        for (size_t i = 0; i < k; i++) {
            size_t j = i + fg_rng_below (&rng, (uint32_t) (prev_count - i));
            uint32_t x = sorted [j];
            sorted [j] = sorted [i];
            sorted [i] = x;
            self->mark [x] |= MARK_TAKEN;
            self->kept_count [self->labels [x]]++;
            out [len++] = x;
        }
    }
    if (self->p.distribution == FG_DIST_SKEW) {
        uint32_t *dom = self->targets;              //  m <= K - 1 entries
        for (uint32_t j = 0; j < self->m; j++) {
            dom [j] = s_dominant (self, s, j);
            self->class_flag [dom [j]] = 1;
        }
        for (uint32_t j = 0; j < self->m; j++) {
            size_t t = s_dominant_target (self, d, j);
            size_t kept = self->kept_count [dom [j]];
            size_t want = t > kept? t - kept: 0;
            if (want > d - len)
                want = d - len;             //  kept samples may leave less room
            s_draw2 (self, &rng, &dom [j], 1, want, out, &len);
        }
        //  the rest from the non-dominant classes
        s_draw2 (self, &rng, NULL, 0, d - len, out, &len);
        memset (self->class_flag, 0, K);
    }
    else
    if (self->p.distribution == FG_DIST_DIRICHLET) {
        int rc = s_dirichlet_targets (self, s, self->targets);
        if (rc)
            return fg_error_set (err, rc, "partition: out of memory (dirichlet targets)");
        for (uint32_t c = 0; c < K; c++) {
            size_t t = self->targets [c], kept = self->kept_count [c];
            size_t want = t > kept? t - kept: 0;
            if (want > d - len)
                want = d - len;
            s_draw2 (self, &rng, &c, 1, want, out, &len);
        }
    }
    //  fill (IID: everything; else what class shortages left open)
    s_draw2 (self, &rng, NULL, 0, d - len, out, &len);
    if (FG_NEVER (len != d))
        return fg_error_set (err, FG_EINVAL, "partition: shard %u: built %zu of %zu samples", s, len, d);
    qsort (out, d, sizeof *out, s_cmp_u32);
    return 0;
}

//  --------------------------------------------------------------------
//  Public: one shard, one round

//  Hybrid shard s at round r from scratch: the static shard, then r steps.
static int
s_hybrid_chain (fg_partition_t *self, uint32_t round, uint32_t s, uint32_t *out, fg_error_t *err)
{
    size_t d = s_size (self, s);
    uint32_t *a = malloc (d * sizeof *a), *b = malloc (d * sizeof *b);
    int rc = FG_ENOMEM;
    if (!a || !b) {
        fg_error_set (err, rc, "partition: out of memory");
        goto done;
    }
    rc = s_build_disjoint (self, 0, err);
    if (rc)
        goto done;
    memcpy (a, self->part + s_offset (self, s), d * sizeof *a);
    for (uint32_t r = 1; r <= round; r++) {
        rc = s_build_one (self, r, s, a, d, b, err);
        if (rc)
            goto done;
        uint32_t *t = a; a = b; b = t;
    }
    memcpy (out, a, d * sizeof *out);
done:
    free (a);
    free (b);
    return rc;
}

int
fg_partition_shard (fg_partition_t *self, uint32_t round, uint32_t shard,
                    const uint32_t *prev, size_t prev_count, uint32_t *out, fg_error_t *err)
{
    assert (self && out);
    if (shard >= self->p.nodes)
        return fg_error_set (err, FG_EINVAL, "partition: shard %u: there are only %u shards",
                             shard, self->p.nodes);
    size_t d = s_size (self, shard);
    int rc;
    switch (self->p.strategy) {
        case FG_STRATEGY_STOCHASTIC:
            return s_build_one (self, round, shard, NULL, 0, out, err);
        case FG_STRATEGY_HYBRID:
            if (round > 0) {
                if (!prev)
                    return s_hybrid_chain (self, round, shard, out, err);
                return s_build_one (self, round, shard, prev, prev_count, out, err);
            }
            //  round 0: the static partition
            //  fall through
        case FG_STRATEGY_STATIC:
            rc = s_build_disjoint (self, 0, err);
            break;
        default:
            rc = s_build_disjoint (self, round, err);
            break;
    }
    if (rc == 0)
        memcpy (out, self->part + s_offset (self, shard), d * sizeof *out);
    return rc;
}

int
fg_partition_round (fg_partition_t *self, uint32_t round, const fg_shards_t *prev,
                    fg_shards_t **shards_p, fg_error_t *err)
{
    assert (self && shards_p);
    *shards_p = NULL;
    uint32_t C = self->p.nodes;
    bool hybrid_step = self->p.strategy == FG_STRATEGY_HYBRID && round > 0;
    if (hybrid_step && prev) {
        if (prev->nshards != C)
            return fg_error_set (err, FG_EINVAL, "partition: previous round has %u shards, expected %u",
                                 prev->nshards, C);
        for (uint32_t s = 0; s < C; s++)
            if (prev->offset [s + 1] < prev->offset [s])
                return fg_error_set (err, FG_EINVAL, "partition: previous round: shard %u has a "
                                     "negative length", s);
    }
    fg_shards_t *shards = calloc (1, sizeof *shards);
    if (shards) {
        shards->nshards = C;
        shards->offset = malloc (((size_t) C + 1) * sizeof *shards->offset);
        shards->index = malloc (self->count * sizeof *shards->index);
    }
    if (!shards || !shards->offset || !shards->index) {
        fg_shards_destroy (&shards);
        return fg_error_set (err, FG_ENOMEM, "partition: out of memory for round %u", round);
    }
    for (uint32_t s = 0; s <= C; s++)
        shards->offset [s] = s_offset (self, s);

    int rc = 0;
    if (hybrid_step && !prev) {
        //  rebuild from round 0, one round at a time
        fg_shards_t *at = NULL;
        rc = fg_partition_round (self, 0, NULL, &at, err);
        for (uint32_t r = 1; rc == 0 && r <= round; r++) {
            fg_shards_t *next = NULL;
            rc = fg_partition_round (self, r, at, &next, err);
            fg_shards_destroy (&at);
            at = next;
        }
        if (rc == 0)
            memcpy (shards->index, at->index, self->count * sizeof *shards->index);
        fg_shards_destroy (&at);
    }
    else
    for (uint32_t s = 0; s < C && rc == 0; s++) {
        const uint32_t *p = NULL;
        size_t pn = 0;
        if (hybrid_step) {
            p = prev->index + prev->offset [s];
            pn = prev->offset [s + 1] - prev->offset [s];
        }
        rc = fg_partition_shard (self, round, s, p, pn, shards->index + shards->offset [s], err);
    }
    if (rc)
        fg_shards_destroy (&shards);
    *shards_p = shards;
    return rc;
}

void
fg_shards_destroy (fg_shards_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->offset);
        free ((*self_p)->index);
        free (*self_p);
        *self_p = NULL;
    }
}
