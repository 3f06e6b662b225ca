/*  test_partition.c — shards: sizes, disjointness and cover, distinctness,
    hybrid's exact keep, skew balance, IID histograms, Dirichlet mixes,
    purity, a frozen known answer, and every rejection path.              */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_log.h"
#include "fg_partition.h"
#include "fg_rng.h"
#include "fg_sha256.h"

static const char *s_strategy_name [] = { "stochastic", "static", "dynamic", "hybrid" };
static const char *s_dist_name [] = { "iid", "skew", "dirichlet" };

//  A dataset of K classes with per_class [c] samples each, labels in a
//  scrambled order (datasets are not sorted by label).
static uint16_t *
s_labels (uint32_t K, const size_t *per_class, size_t *count_p)
{
    size_t D = 0;
    for (uint32_t c = 0; c < K; c++)
        D += per_class [c];
    uint16_t *labels = malloc (D * sizeof *labels);
    assert_non_null (labels);
    size_t n = 0;
    for (uint32_t c = 0; c < K; c++)
        for (size_t i = 0; i < per_class [c]; i++)
            labels [n++] = (uint16_t) c;
    fg_rng_t rng;
    fg_rng_init (&rng, 99, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = D; i > 1; i--) {
        size_t j = fg_rng_below (&rng, (uint32_t) i);
        uint16_t t = labels [i - 1];
        labels [i - 1] = labels [j];
        labels [j] = t;
    }
    *count_p = D;
    return labels;
}

static uint16_t *
s_balanced (uint32_t K, size_t per, size_t *count_p)
{
    size_t *pc = malloc (K * sizeof *pc);
    assert_non_null (pc);
    for (uint32_t c = 0; c < K; c++)
        pc [c] = per;
    uint16_t *labels = s_labels (K, pc, count_p);
    free (pc);
    return labels;
}

static fg_partition_params_t
s_params (int strategy, int dist, uint32_t C)
{
    fg_partition_params_t p = {
        .strategy = strategy, .distribution = dist, .balance = 0.8, .dominant_classes = 0,
        .alpha = 0.5, .keep_fraction = 0.5, .nodes = C, .seed = 1
    };
    return p;
}

static fg_partition_t *
s_new (const uint16_t *labels, size_t D, uint32_t K, const fg_partition_params_t *p)
{
    fg_error_t err = { 0 };
    fg_partition_t *part = fg_partition_new (labels, D, K, p, &err);
    if (!part)
        fprintf (stderr, "fg_partition_new: %s\n", err.msg);
    assert_non_null (part);
    return part;
}

static fg_shards_t *
s_round (fg_partition_t *part, uint32_t round, const fg_shards_t *prev)
{
    fg_error_t err = { 0 };
    fg_shards_t *shards = NULL;
    int rc = fg_partition_round (part, round, prev, &shards, &err);
    if (rc)
        fprintf (stderr, "fg_partition_round: %s\n", err.msg);
    assert_int_equal (rc, 0);
    assert_non_null (shards);
    return shards;
}

//  Every shard: size d_s, indices < D, strictly ascending (so distinct).
static void
s_check_shards (const fg_partition_t *part, const fg_shards_t *sh, size_t D)
{
    assert_int_equal (sh->nshards, fg_partition_nshards (part));
    assert_int_equal (sh->offset [0], 0);
    for (uint32_t s = 0; s < sh->nshards; s++) {
        size_t n = sh->offset [s + 1] - sh->offset [s];
        assert_int_equal (n, fg_partition_shard_size (part, s));
        const uint32_t *x = sh->index + sh->offset [s];
        for (size_t i = 0; i < n; i++) {
            assert_true (x [i] < D);
            if (i)
                assert_true (x [i] > x [i - 1]);
        }
    }
    assert_int_equal (sh->offset [sh->nshards], D);
}

//  Shards pairwise disjoint and covering [0, D): every index exactly once.
static void
s_check_partition (const fg_shards_t *sh, size_t D)
{
    uint8_t *seen = calloc (D, 1);
    assert_non_null (seen);
    for (size_t i = 0; i < sh->offset [sh->nshards]; i++) {
        assert_int_equal (seen [sh->index [i]], 0);
        seen [sh->index [i]] = 1;
    }
    for (size_t i = 0; i < D; i++)
        assert_int_equal (seen [i], 1);
    free (seen);
}

static size_t
s_common (const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na && j < nb) {
        if (a [i] == b [j]) {
            n++; i++; j++;
        }
        else
        if (a [i] < b [j])
            i++;
        else
            j++;
    }
    return n;
}

//  Samples of shard s whose label is one of its dominant classes.
static size_t
s_dominant_count (const fg_partition_t *part, const fg_shards_t *sh, uint32_t s,
                  const uint16_t *labels)
{
    uint32_t dom [64];
    uint32_t m = fg_partition_dominant (part, s, NULL);
    assert_true (m >= 1 && m <= 64);
    fg_partition_dominant (part, s, dom);
    size_t n = 0;
    for (size_t i = sh->offset [s]; i < sh->offset [s + 1]; i++)
        for (uint32_t j = 0; j < m; j++)
            if (labels [sh->index [i]] == dom [j])
                n++;
    return n;
}

//  --------------------------------------------------------------------

static void
test_sizes (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 103, &D);       //  D = 1030
    fg_partition_params_t p = s_params (FG_STRATEGY_STATIC, FG_DIST_IID, 100);
    fg_partition_t *part = s_new (labels, D, 10, &p);
    size_t total = 0;
    for (uint32_t s = 0; s < 100; s++) {
        //  1030 = 100 * 10 + 30: the first 30 shards have 11
        assert_int_equal (fg_partition_shard_size (part, s), s < 30? 11: 10);
        total += fg_partition_shard_size (part, s);
    }
    assert_int_equal (total, D);
    assert_int_equal (fg_partition_shard_size (part, 100), 0);
    assert_int_equal (fg_partition_nshards (part), 100);
    assert_int_equal (fg_partition_dominant (part, 0, NULL), 0);
    fg_partition_destroy (&part);
    fg_partition_destroy (&part);                       //  NULL-safe
    assert_null (part);
    fg_shards_destroy (NULL);
    free (labels);
}

//  static and dynamic: disjoint and covering D in every round, every
//  distribution, with an uneven D % C; static never changes, dynamic does.
static void
test_disjoint_cover (void **state)
{
    (void) state;
    size_t per [10] = { 400, 370, 520, 90, 610, 480, 333, 505, 444, 250 };
    size_t D;
    uint16_t *labels = s_labels (10, per, &D);
    uint32_t Cs [] = { 7, 10, 50 };
    for (int strategy = FG_STRATEGY_STATIC; strategy <= FG_STRATEGY_DYNAMIC; strategy++)
    for (int dist = FG_DIST_IID; dist <= FG_DIST_DIRICHLET; dist++)
    for (size_t ci = 0; ci < 3; ci++) {
        fg_partition_params_t p = s_params (strategy, dist, Cs [ci]);
        fg_partition_t *part = s_new (labels, D, 10, &p);
        fg_shards_t *first = NULL;
        for (uint32_t r = 0; r < 3; r++) {
            fg_shards_t *sh = s_round (part, r, NULL);
            s_check_shards (part, sh, D);
            s_check_partition (sh, D);
            if (r == 0)
                first = sh;
            else {
                int same = memcmp (first->index, sh->index, D * sizeof *sh->index) == 0;
                assert_int_equal (same, strategy == FG_STRATEGY_STATIC);
                fg_shards_destroy (&sh);
            }
        }
        fg_shards_destroy (&first);
        fg_partition_destroy (&part);
    }
    free (labels);
}

//  stochastic: d_s distinct indices per shard; shards overlap; new draws
//  every round.
static void
test_stochastic_distinct (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 300, &D);
    for (int dist = FG_DIST_IID; dist <= FG_DIST_DIRICHLET; dist++) {
        fg_partition_params_t p = s_params (FG_STRATEGY_STOCHASTIC, dist, 7);
        fg_partition_t *part = s_new (labels, D, 10, &p);
        fg_shards_t *r0 = s_round (part, 0, NULL);
        fg_shards_t *r1 = s_round (part, 1, NULL);
        s_check_shards (part, r0, D);
        s_check_shards (part, r1, D);
        //  independent draws: not a partition (some index is in 2 shards)
        uint8_t *seen = calloc (D, 1);
        size_t repeats = 0;
        for (size_t i = 0; i < D; i++)
            repeats += seen [r0->index [i]]++ > 0;
        free (seen);
        assert_true (repeats > 0);
        assert_memory_not_equal (r0->index, r1->index, D * sizeof *r0->index);
        fg_shards_destroy (&r0);
        fg_shards_destroy (&r1);
        fg_partition_destroy (&part);
    }
    free (labels);
}

//  hybrid: round 0 = static; round r keeps exactly round (f * d_s) of its
//  previous shard; rebuilding from round 0 (prev NULL) gives the same.
//  Exact for IID always, and for skew/Dirichlet when a class has enough
//  samples outside the previous shard (CIFAR-10 sizes, C = 50); in a tight
//  setting (10 x 500 samples, C = 13) a class runs short outside the
//  previous shard and the shard takes back dropped samples of that class
//  (docs/partitioning.md): then it keeps at least round (f * d_s).
static void
s_hybrid_case (size_t per, uint32_t C, int dist, double fraction, bool exact)
{
    size_t D;
    uint16_t *labels = s_balanced (10, per, &D);
    fg_partition_params_t p = s_params (FG_STRATEGY_HYBRID, dist, C);
    p.keep_fraction = fraction;
    fg_partition_t *part = s_new (labels, D, 10, &p);
    p.strategy = FG_STRATEGY_STATIC;
    fg_partition_t *stat = s_new (labels, D, 10, &p);
    fg_shards_t *prev = s_round (part, 0, NULL);
    fg_shards_t *st = s_round (stat, 0, NULL);
    assert_memory_equal (prev->index, st->index, D * sizeof *st->index);
    fg_shards_destroy (&st);
    for (uint32_t r = 1; r <= 3; r++) {
        fg_shards_t *cur = s_round (part, r, prev);
        s_check_shards (part, cur, D);
        for (uint32_t s = 0; s < C; s++) {
            size_t d = fg_partition_shard_size (part, s);
            size_t k = (size_t) floor (fraction * (double) d + 0.5);
            size_t common = s_common (prev->index + prev->offset [s], d,
                                      cur->index + cur->offset [s], d);
            if (exact)
                assert_int_equal (common, k);
            else
                assert_true (common >= k);
        }
        fg_shards_destroy (&prev);
        prev = cur;
    }
    //  round 3 from scratch: whole round and one shard
    fg_shards_t *again = s_round (part, 3, NULL);
    assert_memory_equal (again->index, prev->index, D * sizeof *prev->index);
    fg_shards_destroy (&again);
    size_t d5 = fg_partition_shard_size (part, 5);
    uint32_t *out = malloc (d5 * sizeof *out);
    assert_non_null (out);
    assert_int_equal (fg_partition_shard (part, 3, 5, NULL, 0, out, NULL), 0);
    assert_memory_equal (out, prev->index + prev->offset [5], d5 * sizeof *out);
    free (out);
    fg_shards_destroy (&prev);
    fg_partition_destroy (&part);
    fg_partition_destroy (&stat);
    free (labels);
}

static void
test_hybrid_keep (void **state)
{
    (void) state;
    double fractions [] = { 0.0, 0.3, 0.5, 0.77, 1.0 };
    for (size_t fi = 0; fi < 5; fi++) {
        for (int dist = FG_DIST_IID; dist <= FG_DIST_DIRICHLET; dist++) {
            s_hybrid_case (500, 13, dist, fractions [fi], dist == FG_DIST_IID);
            s_hybrid_case (5000, 50, dist, fractions [fi], true);
        }
    }
}

//  Previous content given in any order is the same previous content.
static void
test_hybrid_prev_order (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 100, &D);
    fg_partition_params_t p = s_params (FG_STRATEGY_HYBRID, FG_DIST_SKEW, 10);
    fg_partition_t *part = s_new (labels, D, 10, &p);
    uint32_t prev [100], rev [100], a [100], b [100];
    assert_int_equal (fg_partition_shard (part, 0, 4, NULL, 0, prev, NULL), 0);
    for (int i = 0; i < 100; i++)
        rev [i] = prev [99 - i];
    assert_int_equal (fg_partition_shard (part, 1, 4, prev, 100, a, NULL), 0);
    assert_int_equal (fg_partition_shard (part, 1, 4, rev, 100, b, NULL), 0);
    assert_memory_equal (a, b, sizeof a);
    fg_partition_destroy (&part);
    free (labels);
}

//  skew, the source study's settings: every shard of every strategy has
//  exactly round (b * d) samples of its dominant classes, spread evenly
//  over them, in rounds 0..2. CIFAR-10 sizes (10 classes of 5000; C = 50,
//  10, 5; b = 0.8, 0.9; m automatic or 2, the configuration's default) and
//  Tiny-ImageNet sizes (200 classes of 500; C = 10, 5; b = 0.9; m
//  automatic: 20 and 40).
static void
s_skew_case (uint32_t K, size_t per, uint32_t C, double b, uint32_t m_param)
{
    size_t D;
    uint16_t *labels = s_balanced (K, per, &D);
    for (int strategy = FG_STRATEGY_STOCHASTIC; strategy <= FG_STRATEGY_HYBRID; strategy++) {
        fg_partition_params_t p = s_params (strategy, FG_DIST_SKEW, C);
        p.balance = b;
        p.dominant_classes = m_param;
        fg_partition_t *part = s_new (labels, D, K, &p);
        uint32_t m = fg_partition_dominant (part, 0, NULL);
        assert_int_equal (m, m_param? m_param: (K + C - 1) / C);
        fg_shards_t *prev = NULL;
        for (uint32_t r = 0; r < 3; r++) {
            fg_shards_t *sh = s_round (part, r, prev);
            s_check_shards (part, sh, D);
            if (strategy == FG_STRATEGY_STATIC || strategy == FG_STRATEGY_DYNAMIC
            || (strategy == FG_STRATEGY_HYBRID && r == 0))
                s_check_partition (sh, D);
            for (uint32_t s = 0; s < C; s++) {
                size_t d = fg_partition_shard_size (part, s);
                size_t want = (size_t) floor (b * (double) d + 0.5);
                assert_int_equal (s_dominant_count (part, sh, s, labels), want);
                uint32_t dom [64];
                fg_partition_dominant (part, s, dom);
                size_t *hist = calloc (K, sizeof *hist);
                assert_non_null (hist);
                for (size_t i = sh->offset [s]; i < sh->offset [s + 1]; i++)
                    hist [labels [sh->index [i]]]++;
                for (uint32_t j = 0; j < m; j++)
                    assert_int_equal (hist [dom [j]], want / m + (j < want % m));
                free (hist);
            }
            fg_shards_destroy (&prev);
            prev = sh;
        }
        fg_shards_destroy (&prev);
        fg_partition_destroy (&part);
    }
    free (labels);
}

static void
test_skew_balance (void **state)
{
    (void) state;
    uint32_t Cs [] = { 50, 10, 5 };
    double bs [] = { 0.8, 0.9 };
    for (size_t ci = 0; ci < 3; ci++)
    for (size_t bi = 0; bi < 2; bi++) {
        s_skew_case (10, 5000, Cs [ci], bs [bi], 0);
        s_skew_case (10, 5000, Cs [ci], bs [bi], 2);
    }
    s_skew_case (200, 500, 10, 0.9, 0);
    s_skew_case (200, 500, 5, 0.9, 0);
}

//  Dominant classes are spread evenly over shards (each class dominant
//  for C*m/K shards when that divides), and stay with a shard across rounds.
static void
test_skew_assignment (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 100, &D);
    uint32_t Cs [] = { 50, 10, 5 };
    for (size_t ci = 0; ci < 3; ci++) {
        fg_partition_params_t p = s_params (FG_STRATEGY_DYNAMIC, FG_DIST_SKEW, Cs [ci]);
        fg_partition_t *part = s_new (labels, D, 10, &p);
        uint32_t times [10] = { 0 };
        for (uint32_t s = 0; s < Cs [ci]; s++) {
            uint32_t dom [8];
            uint32_t m = fg_partition_dominant (part, s, dom);
            for (uint32_t j = 0; j < m; j++) {
                for (uint32_t k = 0; k < j; k++)
                    assert_int_not_equal (dom [j], dom [k]);
                times [dom [j]]++;
            }
        }
        uint32_t m = fg_partition_dominant (part, 0, NULL);
        for (int c = 0; c < 10; c++)
            assert_int_equal (times [c], Cs [ci] * m / 10);
        fg_partition_destroy (&part);
    }
    free (labels);
}

//  Class exhaustion (one dominant class for 5 shards of 10 classes: each
//  class would owe 9000 to dominant parts but has 5000): the partition
//  still covers D exactly; dominant parts get the whole class.
static void
s_count_warnings (fg_log_level_t level, const char *line, void *arg)
{
    if (level == FG_LOG_WARN && strstr (line, "dominant class"))
        (*(int *) arg)++;
}

static void
test_skew_exhaustion (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 500, &D);
    fg_partition_params_t p = s_params (FG_STRATEGY_STATIC, FG_DIST_SKEW, 5);
    p.balance = 0.9;
    p.dominant_classes = 1;
    int warnings = 0;
    fg_log_set_sink (s_count_warnings, &warnings);
    fg_partition_t *part = s_new (labels, D, 10, &p);
    assert_int_equal (warnings, 1);                 //  the user is told
    p.dominant_classes = 2;                         //  = 10 classes / 5 shards
    fg_partition_t *fits = s_new (labels, D, 10, &p);
    fg_partition_destroy (&fits);
    fg_log_set_sink (NULL, NULL);
    assert_int_equal (warnings, 1);
    p.dominant_classes = 1;
    fg_shards_t *sh = s_round (part, 0, NULL);
    s_check_shards (part, sh, D);
    s_check_partition (sh, D);
    for (uint32_t s = 0; s < 5; s++)
        assert_int_equal (s_dominant_count (part, sh, s, labels), 500);
    fg_shards_destroy (&sh);
    fg_partition_destroy (&part);

    //  unbalanced classes with m = 2, C = 7: still a partition
    size_t per [10] = { 50, 700, 20, 900, 300, 10, 600, 45, 800, 75 };
    free (labels);
    labels = s_labels (10, per, &D);
    for (int strategy = FG_STRATEGY_STATIC; strategy <= FG_STRATEGY_DYNAMIC; strategy++) {
        p = s_params (strategy, FG_DIST_SKEW, 7);
        p.dominant_classes = 2;
        part = s_new (labels, D, 10, &p);
        sh = s_round (part, 1, NULL);
        s_check_shards (part, sh, D);
        s_check_partition (sh, D);
        fg_shards_destroy (&sh);
        fg_partition_destroy (&part);
    }
    free (labels);
}

//  IID shards: each class count within 5 standard deviations (+1 for
//  rounding) of d_s * N_c / D (hypergeometric for disjoint shards,
//  without-replacement draws for stochastic and hybrid); disjoint rounds
//  add up to the dataset's histogram exactly.
static void
test_iid_histogram (void **state)
{
    (void) state;
    size_t per [10] = { 5000, 4000, 6000, 5000, 5500, 4500, 5000, 5000, 3000, 7000 };
    size_t D;
    uint16_t *labels = s_labels (10, per, &D);
    double worst = 0;
    for (int strategy = FG_STRATEGY_STOCHASTIC; strategy <= FG_STRATEGY_HYBRID; strategy++) {
        fg_partition_params_t p = s_params (strategy, FG_DIST_IID, 50);
        fg_partition_t *part = s_new (labels, D, 10, &p);
        fg_shards_t *prev = NULL;
        for (uint32_t r = 0; r < 2; r++) {
            fg_shards_t *sh = s_round (part, r, prev);
            size_t total [10] = { 0 };
            for (uint32_t s = 0; s < 50; s++) {
                size_t hist [10] = { 0 };
                for (size_t i = sh->offset [s]; i < sh->offset [s + 1]; i++)
                    hist [labels [sh->index [i]]]++;
                double d = (double) fg_partition_shard_size (part, s);
                for (int c = 0; c < 10; c++) {
                    double pc = (double) per [c] / (double) D;
                    double expect = d * pc;
                    double sd = sqrt (d * pc * (1 - pc) * ((double) D - d) / ((double) D - 1));
                    double z = (fabs ((double) hist [c] - expect) - 1) / sd;
                    if (z > worst)
                        worst = z;
                    assert_true (fabs ((double) hist [c] - expect) <= 5 * sd + 1);
                    total [c] += hist [c];
                }
            }
            if (strategy == FG_STRATEGY_STATIC || strategy == FG_STRATEGY_DYNAMIC)
                for (int c = 0; c < 10; c++)
                    assert_int_equal (total [c], per [c]);
            fg_shards_destroy (&prev);
            prev = sh;
        }
        fg_shards_destroy (&prev);
        fg_partition_destroy (&part);
    }
    printf ("# iid histograms: largest deviation %.2f standard deviations\n", worst);
    free (labels);
}

//  Dirichlet: small alpha concentrates a shard on few classes, large alpha
//  approaches IID; a shard's class mix is its own across rounds
//  (stochastic draws new samples with the same class counts).
static void
test_dirichlet (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 1000, &D);
    double alphas [] = { 0.1, 100 };
    double top_share [2];
    for (int a = 0; a < 2; a++) {
        fg_partition_params_t p = s_params (FG_STRATEGY_STOCHASTIC, FG_DIST_DIRICHLET, 20);
        p.alpha = alphas [a];
        fg_partition_t *part = s_new (labels, D, 10, &p);
        fg_shards_t *r0 = s_round (part, 0, NULL);
        fg_shards_t *r1 = s_round (part, 1, NULL);
        assert_memory_not_equal (r0->index, r1->index, D * sizeof *r0->index);
        double share = 0;
        for (uint32_t s = 0; s < 20; s++) {
            size_t h0 [10] = { 0 }, h1 [10] = { 0 }, top = 0;
            for (size_t i = r0->offset [s]; i < r0->offset [s + 1]; i++)
                h0 [labels [r0->index [i]]]++;
            for (size_t i = r1->offset [s]; i < r1->offset [s + 1]; i++)
                h1 [labels [r1->index [i]]]++;
            assert_memory_equal (h0, h1, sizeof h0);
            for (int c = 0; c < 10; c++)
                if (h0 [c] > top)
                    top = h0 [c];
            share += (double) top / (double) fg_partition_shard_size (part, s);
        }
        top_share [a] = share / 20;
        fg_shards_destroy (&r0);
        fg_shards_destroy (&r1);
        fg_partition_destroy (&part);
    }
    printf ("# dirichlet: mean largest-class share %.3f (alpha 0.1), %.3f (alpha 100)\n",
            top_share [0], top_share [1]);
    assert_true (top_share [0] > 0.6);
    assert_true (top_share [1] < 0.2);
    free (labels);
}

//  Purity: two objects, shards asked in opposite orders, one shard alone
//  or a whole round: the same indices. Another seed: other indices.
static void
test_purity (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (10, 200, &D);
    for (int strategy = FG_STRATEGY_STOCHASTIC; strategy <= FG_STRATEGY_HYBRID; strategy++)
    for (int dist = FG_DIST_IID; dist <= FG_DIST_DIRICHLET; dist++) {
        fg_partition_params_t p = s_params (strategy, dist, 8);
        fg_partition_t *a = s_new (labels, D, 10, &p);
        fg_partition_t *b = s_new (labels, D, 10, &p);
        p.seed = 2;
        fg_partition_t *other = s_new (labels, D, 10, &p);
        fg_shards_t *whole = s_round (a, 2, NULL);
        fg_shards_t *whole_other = s_round (other, 2, NULL);
        assert_memory_not_equal (whole->index, whole_other->index, D * sizeof *whole->index);
        for (int s = 7; s >= 0; s--) {
            uint32_t out [250];
            size_t d = fg_partition_shard_size (b, (uint32_t) s);
            //  touch other rounds in between: the cache must not leak
            assert_int_equal (fg_partition_shard (b, 1, (uint32_t) s, NULL, 0, out, NULL), 0);
            assert_int_equal (fg_partition_shard (b, 2, (uint32_t) s, NULL, 0, out, NULL), 0);
            assert_memory_equal (out, whole->index + whole->offset [s], d * sizeof *out);
        }
        fg_shards_destroy (&whole);
        fg_shards_destroy (&whole_other);
        fg_partition_destroy (&a);
        fg_partition_destroy (&b);
        fg_partition_destroy (&other);
    }
    free (labels);
}

//  Frozen answers: the SHA-256 of rounds 0..2 of every strategy x
//  distribution. These define what an experiment's shards are; a change
//  here changes the meaning of every recorded experiment (update the
//  values only with a deliberate, documented change of the construction).
static void
test_known_answer (void **state)
{
    (void) state;
    static const char *expect [4][3] = {
        {   //  stochastic: iid, skew, dirichlet
            "6b20fe4f8d3c27608fa91c3177a490064cb86ed8a84401f3097ec9caa31857c0",
            "28976986680729cd3636c56be1db9c3abb3d3bf5354405b3cd8a5bdbf2b7c3bd",
            "28331f3ce8a1d5b0e05999085c551969c088e8cb244a3e604fd83ec38fce77e2"
        },
        {   //  static: iid, skew, dirichlet
            "9f28b0f9b58de7d2f33cc710d2eecaf0a64776a5a7afd01ed3f235f289593289",
            "00be3bdd2ac080f7ccbd220fa787b04daeaef996a3c4cbd73fdbd3627e7607ef",
            "38be30f07a17df3859183fe3ff433929339846b74baa79bc13c893673d083c59"
        },
        {   //  dynamic: iid, skew, dirichlet
            "17fa68b23fccf7ad4df95875485c68c5149fea5bb73609f1922724c46a8004c9",
            "486963e6b1f9cebd9cd9095503402cbaea1eca8544ea80867adad566270a689c",
            "66dedb2cedb391386ddd5fb0e3f33d0b14ae164cb4cdb4bf14be50dc910aab19"
        },
        {   //  hybrid: iid, skew, dirichlet
            "92473a2ff0cc200545cb1195efc00fa576f306de1783f2d95da6a3b662945aa4",
            "00fd09cc95e9b8b8948fd11e1cbd58c3601296704eb199501d285cc3cd9f2686",
            "0d363cf58bbb99adad1ca2e1decf28dd8c925fd00ec4354eff011134910ca001"
        }
    };
    size_t D;
    uint16_t *labels = s_balanced (10, 60, &D);
    int frozen = 1;
    for (int strategy = FG_STRATEGY_STOCHASTIC; strategy <= FG_STRATEGY_HYBRID; strategy++)
    for (int dist = FG_DIST_IID; dist <= FG_DIST_DIRICHLET; dist++) {
        fg_partition_params_t p = s_params (strategy, dist, 6);
        fg_partition_t *part = s_new (labels, D, 10, &p);
        fg_sha256_t ctx;
        fg_sha256_init (&ctx);
        fg_shards_t *prev = NULL;
        for (uint32_t r = 0; r < 3; r++) {
            fg_shards_t *sh = s_round (part, r, prev);
            for (size_t i = 0; i < D; i++) {
                uint8_t le [4] = { (uint8_t) sh->index [i], (uint8_t) (sh->index [i] >> 8),
                                   (uint8_t) (sh->index [i] >> 16), (uint8_t) (sh->index [i] >> 24) };
                fg_sha256_update (&ctx, le, 4);
            }
            fg_shards_destroy (&prev);
            prev = sh;
        }
        fg_shards_destroy (&prev);
        uint8_t digest [32];
        char hex [65];
        fg_sha256_final (&ctx, digest);
        fg_sha256_hex (digest, hex);
        if (strcmp (expect [strategy][dist], hex)) {
            printf ("# %s/%s: %s\n", s_strategy_name [strategy], s_dist_name [dist], hex);
            frozen = 0;
        }
        fg_partition_destroy (&part);
    }
    free (labels);
    assert_true (frozen);
}

//  --------------------------------------------------------------------

static void
s_expect_new_fails (const uint16_t *labels, size_t D, uint32_t K, fg_partition_params_t p,
                    const char *needle)
{
    fg_error_t err = { 0 };
    fg_partition_t *part = fg_partition_new (labels, D, K, &p, &err);
    assert_null (part);
    assert_int_equal (err.code, FG_EINVAL);
    if (!strstr (err.msg, needle))
        fprintf (stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    assert_non_null (strstr (err.msg, needle));
}

static void
test_rejections (void **state)
{
    (void) state;
    size_t D;
    uint16_t *labels = s_balanced (4, 10, &D);          //  D = 40
    fg_partition_params_t ok = s_params (FG_STRATEGY_STATIC, FG_DIST_SKEW, 4), p;

    s_expect_new_fails (NULL, 0, 4, ok, "training samples");
    s_expect_new_fails (labels, 0, 4, ok, "training samples");
    s_expect_new_fails (labels, D, 0, ok, "classes");
    s_expect_new_fails (labels, D, 70000, ok, "classes");
    s_expect_new_fails (labels, D, 3, ok, "label 3");         //  some sample has label 3
    p = ok; p.strategy = 7;
    s_expect_new_fails (labels, D, 4, p, "strategy");
    p = ok; p.distribution = -1;
    s_expect_new_fails (labels, D, 4, p, "distribution");
    p = ok; p.nodes = 0;
    s_expect_new_fails (labels, D, 4, p, "grid.nodes");
    p = ok; p.nodes = 41;
    s_expect_new_fails (labels, D, 4, p, "grid.nodes");
    p = ok; p.balance = 1.5;
    s_expect_new_fails (labels, D, 4, p, "data.balance");
    p = ok; p.balance = NAN;
    s_expect_new_fails (labels, D, 4, p, "data.balance");
    p = ok; p.keep_fraction = -0.1;
    s_expect_new_fails (labels, D, 4, p, "data.keep_fraction");
    p = ok; p.dominant_classes = 4;
    s_expect_new_fails (labels, D, 4, p, "data.dominant_classes");
    p = ok; p.distribution = FG_DIST_DIRICHLET; p.alpha = 0;
    s_expect_new_fails (labels, D, 4, p, "data.alpha");
    p = ok; p.distribution = FG_DIST_DIRICHLET; p.alpha = INFINITY;
    s_expect_new_fails (labels, D, 4, p, "data.alpha");
    uint16_t one [3] = { 0, 0, 0 };
    s_expect_new_fails (one, 3, 1, s_params (FG_STRATEGY_STATIC, FG_DIST_SKEW, 2), "at least 2 classes");
    //  the same values are fine where they do not apply
    p = ok; p.distribution = FG_DIST_IID; p.balance = 7; p.alpha = -1;
    fg_partition_t *part = s_new (labels, D, 4, &p);
    fg_partition_destroy (&part);

    //  per-shard and per-round arguments
    p = s_params (FG_STRATEGY_HYBRID, FG_DIST_IID, 4);
    part = s_new (labels, D, 4, &p);
    fg_error_t err = { 0 };
    uint32_t out [10], prev [10];
    assert_int_equal (fg_partition_shard (part, 0, 4, NULL, 0, out, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "shard 4"));
    assert_int_equal (fg_partition_shard (part, 0, 1, NULL, 0, prev, &err), 0);
    assert_int_equal (fg_partition_shard (part, 1, 1, prev, 9, out, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "9 samples"));
    uint32_t saved = prev [3];
    prev [3] = prev [4];
    assert_int_equal (fg_partition_shard (part, 1, 1, prev, 10, out, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "twice"));
    prev [3] = 40;
    assert_int_equal (fg_partition_shard (part, 1, 1, prev, 10, out, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "index 40"));
    prev [3] = saved;
    assert_int_equal (fg_partition_shard (part, 1, 1, prev, 10, out, &err), 0);

    fg_shards_t *r0 = s_round (part, 0, NULL), *r1 = NULL;
    r0->nshards = 3;
    assert_int_equal (fg_partition_round (part, 1, r0, &r1, &err), FG_EINVAL);
    assert_null (r1);
    assert_non_null (strstr (err.msg, "3 shards"));
    r0->nshards = 4;
    fg_shards_destroy (&r0);
    fg_partition_destroy (&part);
    free (labels);
}

static void
test_from_config (void **state)
{
    (void) state;
    fg_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.experiment.seed = -5;
    cfg.data.strategy = FG_STRATEGY_HYBRID;
    cfg.data.distribution = FG_DIST_SKEW;
    cfg.data.balance = 0.9;
    cfg.data.dominant_classes = 3;
    cfg.data.alpha = 0.3;
    cfg.data.keep_fraction = 0.25;
    cfg.grid.nodes = 5;
    fg_partition_params_t p;
    assert_int_equal (fg_partition_params_from_config (&p, &cfg, NULL), 0);
    assert_int_equal (p.strategy, FG_STRATEGY_HYBRID);
    assert_int_equal (p.distribution, FG_DIST_SKEW);
    assert_true (p.balance == 0.9 && p.alpha == 0.3 && p.keep_fraction == 0.25);
    assert_int_equal (p.dominant_classes, 3);
    assert_int_equal (p.nodes, 5);
    assert_true (p.seed == (uint64_t) -5);
    fg_error_t err = { 0 };
    cfg.grid.nodes = -1;
    assert_int_equal (fg_partition_params_from_config (&p, &cfg, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "grid.nodes"));
    cfg.grid.nodes = 5;
    cfg.data.dominant_classes = (int64_t) 1 << 40;
    assert_int_equal (fg_partition_params_from_config (&p, &cfg, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "data.dominant_classes"));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_sizes),
        cmocka_unit_test (test_disjoint_cover),
        cmocka_unit_test (test_stochastic_distinct),
        cmocka_unit_test (test_hybrid_keep),
        cmocka_unit_test (test_hybrid_prev_order),
        cmocka_unit_test (test_skew_balance),
        cmocka_unit_test (test_skew_assignment),
        cmocka_unit_test (test_skew_exhaustion),
        cmocka_unit_test (test_iid_histogram),
        cmocka_unit_test (test_dirichlet),
        cmocka_unit_test (test_purity),
        cmocka_unit_test (test_known_answer),
        cmocka_unit_test (test_rejections),
        cmocka_unit_test (test_from_config),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
