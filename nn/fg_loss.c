/*  fg_loss.c — softmax cross-entropy, the training loss: mean over the
    batch, its gradient and the count of right answers.                   */

#include <math.h>
#include "fg_ops_internal.h"

//  ---------------------------------------------------------------------------
//  Softmax cross-entropy

int
fg_softmax_xent (int n, int k, const float *logits, const int32_t *labels,
                 double *loss, float *dlogits, int *correct, fg_error_t *err)
{
    size_t t;
    if (n < 1 || k < 1 || !fg_ops_mul ((size_t) n, (size_t) k, &t))
        return fg_error_set (err, FG_EINVAL, "softmax cross-entropy: bad size "
                             "(batch %d, classes %d)", n, k);
    if (!logits || !labels)
        return fg_error_set (err, FG_EINVAL, "softmax cross-entropy: NULL "
                             "logits or labels");
    const size_t K = (size_t) k;
    for (int i = 0; i < n; i++)
        if (labels [i] < 0 || labels [i] >= k)
            return fg_error_set (err, FG_ERANGE, "softmax cross-entropy: row %d: "
                                 "label %d outside [0,%d)", i, (int) labels [i], k);
    for (size_t i = 0; i < (size_t) n; i++)
        for (size_t j = 0; j < K; j++)
            if (!isfinite (logits [i * K + j]))
                return fg_error_set (err, FG_ENUMERIC, "softmax cross-entropy: "
                                     "row %zu, class %zu: logit is not finite", i, j);
    double total = 0.0;
    int right = 0;
    for (size_t i = 0; i < (size_t) n; i++) {
        const float *row = logits + i * K;
        size_t arg = 0;
        for (size_t j = 1; j < K; j++)
            if (row [j] > row [arg])
                arg = j;
        double mx = row [arg], sum = 0.0;
        for (size_t j = 0; j < K; j++)
            sum += exp ((double) row [j] - mx);
        double lse = mx + log (sum);
        total += lse - (double) row [labels [i]];
        if (arg == (size_t) labels [i])
            right++;
        if (dlogits) {
            float *d = dlogits + i * K;
            for (size_t j = 0; j < K; j++) {
                double pj = exp ((double) row [j] - mx) / sum;
                if (j == (size_t) labels [i])
                    pj -= 1.0;
                d [j] = (float) (pj / (double) n);
            }
        }
    }
    if (loss)
        *loss = total / (double) n;
    if (correct)
        *correct = right;
    return 0;
}
