/*  examples/train_dataset.c — train a model on a dataset through the public
    API of libfedgrid (only <fedgrid.h>), the way `fedctl train` does:

        cc train_dataset.c $(pkg-config --cflags --libs fedgrid)
        ./train_dataset [DIR] [LIMIT]

    DIR is a Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist,
    Debian's dataset-fashion-mnist); when it is absent the program uses the
    synthetic set (10 classes of 28x28x1) so it runs anywhere. LIMIT keeps
    the first LIMIT training samples (default 512; the test set is a
    quarter of it). It trains cnn-small for one epoch of plain SGD in
    mini-batches of 32 and prints the loss, the test accuracy and the
    SHA-256 of the weights, which depend on nothing but the data and the
    seed (same run, same bytes).

    Shapes: a batch of n images is a float array (n, 28, 28, 1) NHWC,
    normalised by the set's mean and std; labels are (n) uint16.         */

#include <fedgrid.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define BATCH 32
#define SEED  7

//  Opens the training and test splits: Fashion-MNIST from dir when it
//  exists, else the synthetic set.
static int
s_open (const char *dir, size_t limit, fg_dataset_t **train, fg_dataset_t **test,
        fg_error_t *err)
{
    struct stat st;
    int kind = stat (dir, &st) == 0? FG_DATASET_FASHION_MNIST: FG_DATASET_SYNTHETIC;
    int rc = fg_dataset_open (kind, dir, FG_SPLIT_TRAIN, limit, train, err);
    if (rc == 0)
        rc = fg_dataset_open (kind, dir, FG_SPLIT_TEST, limit / 4 + 1, test, err);
    return rc;
}

//  One epoch over the training set in order; returns 0 or an FG_E* code.
static int
s_epoch (fg_train_t *trainer, const fg_dataset_t *train, float *images, uint16_t *labels,
         fg_train_result_t *total, fg_error_t *err)
{
    size_t count = fg_dataset_count (train);
    uint32_t indices [BATCH];
    fg_train_keys_t keys = { .seed = SEED };
    *total = (fg_train_result_t) { 0 };
    for (size_t start = 0; start < count; start += BATCH) {
        uint32_t n = (uint32_t) (count - start < BATCH? count - start: BATCH);
        for (uint32_t b = 0; b < n; b++)
            indices [b] = (uint32_t) (start + b);
        int rc = fg_dataset_batch (train, indices, n, false, NULL, images, labels, err);
        fg_train_result_t step;
        if (rc == 0)
            rc = fg_train_step (trainer, images, labels, n, 0.05, &keys, &step, err);
        if (rc)
            return rc;
        total->loss += step.loss * (double) step.count;
        total->correct += step.correct;
        total->count += step.count;
        keys.step++;
    }
    total->loss /= (double) (total->count? total->count: 1);
    return 0;
}

//  Evaluates on the whole test set (one array: a quarter of LIMIT images).
static int
s_test (fg_train_t *trainer, const fg_dataset_t *test, fg_train_result_t *result,
        fg_error_t *err)
{
    size_t count = fg_dataset_count (test);
    uint32_t height, width, channels;
    fg_dataset_shape (test, &height, &width, &channels);
    float *images = malloc (count * height * width * channels * sizeof (float));
    uint16_t *labels = malloc (count * sizeof (uint16_t));
    uint32_t *indices = malloc (count * sizeof (uint32_t));
    int rc = images && labels && indices? 0: FG_ENOMEM;
    for (size_t i = 0; rc == 0 && i < count; i++)
        indices [i] = (uint32_t) i;
    if (rc == 0)
        rc = fg_dataset_batch (test, indices, count, false, NULL, images, labels, err);
    if (rc == 0)
        rc = fg_train_evaluate (trainer, images, labels, count, BATCH, result, err);
    free (images);
    free (labels);
    free (indices);
    return rc;
}

static int
s_train (const fg_dataset_t *train, const fg_dataset_t *test, fg_error_t *err)
{
    fg_model_spec_t spec = { .kind = FG_MODEL_CNN_SMALL, .classes = fg_dataset_classes (train) };
    fg_dataset_shape (train, &spec.height, &spec.width, &spec.channels);
    fg_optim_config_t oc = { .lr = 0.05, .momentum = 0.9, .schedule = FG_SCHEDULE_CONSTANT,
                             .gamma = 1, .horizon = 1 };
    fg_model_t *model = fg_model_new (&spec, err);
    if (!model)
        return err->code;
    fg_model_init (model, SEED);
    fg_optim_t *optim = fg_optim_new (&oc, fg_model_state (model), err);
    fg_train_t *trainer = optim? fg_train_new (model, optim, BATCH, 1, err): NULL;
    size_t pixels = (size_t) spec.height * spec.width * spec.channels;
    float *images = malloc (BATCH * pixels * sizeof (float));
    uint16_t labels [BATCH];
    int rc = !trainer? err->code: images? 0: FG_ENOMEM;
    fg_train_result_t fit = { 0 }, eval = { 0 };
    if (rc == 0)
        rc = s_epoch (trainer, train, images, labels, &fit, err);
    if (rc == 0)
        rc = s_test (trainer, test, &eval, err);
    if (rc == 0) {
        printf ("%s: %zu training images, %llu parameters\n", fg_dataset_name (train),
                fg_dataset_count (train), (unsigned long long) fg_model_param_count (model));
        printf ("epoch 1: loss %.4f, train accuracy %.2f%%\n", fit.loss,
                100.0 * (double) fit.correct / (double) fit.count);
        printf ("test: loss %.4f, accuracy %.2f%% of %llu images\n", eval.loss,
                100.0 * (double) eval.correct / (double) eval.count,
                (unsigned long long) eval.count);
        char hex [FG_SHA256_HEX_SIZE];
        fg_state_hash (fg_model_state (model), hex);
        printf ("weights sha256 %s\n", hex);
    }
    free (images);
    fg_train_destroy (&trainer);
    fg_optim_destroy (&optim);
    fg_model_destroy (&model);
    return rc;
}

int
main (int argc, char **argv)
{
    const char *dir = argc > 1? argv [1]: "/usr/share/datasets/fashion-mnist";
    size_t limit = argc > 2? strtoul (argv [2], NULL, 10): 512;
    if (limit < 1 || limit > 100000) {
        fprintf (stderr, "train_dataset: LIMIT must be 1 .. 100000\n");
        return 2;
    }
    fg_error_t err = { 0 };
    fg_dataset_t *train = NULL, *test = NULL;
    int rc = s_open (dir, limit, &train, &test, &err);
    if (rc == 0)
        rc = s_train (train, test, &err);
    if (rc)
        fprintf (stderr, "train_dataset: %s\n", err.msg);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
    return rc? 1: 0;
}
