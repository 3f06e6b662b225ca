/*  fg_state.c — flat model state with named views (see fg_state.h).      */

#include "fg_state.h"
#include "fg_sha256.h"

#include <stdlib.h>
#include <string.h>

fg_state_t *
fg_state_new (void)
{
    return (fg_state_t *) calloc (1, sizeof (fg_state_t));
}

void
fg_state_destroy (fg_state_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->views);
        free ((*self_p)->data);
        free (*self_p);
        *self_p = NULL;
    }
}

static float *
s_alloc_floats (size_t count)
{
    size_t bytes = ((count * sizeof (float) + 63) & ~(size_t) 63) + FG_BLIS_TAIL_PAD;
    void *p = aligned_alloc (64, bytes);
    if (p)
        memset (p, 0, bytes);
    return (float *) p;
}

int
fg_state_add_view (fg_state_t *self, const char *name, fg_tensor_kind_t kind,
                   uint32_t rank, const uint64_t *shape, fg_error_t *err)
{
    if (!name || !*name || strlen (name) >= FG_TENSOR_NAME_MAX)
        return fg_error_set (err, FG_EINVAL, "tensor name '%s' is empty or longer than %d bytes",
                             name? name: "(null)", FG_TENSOR_NAME_MAX - 1);
    if (rank < 1 || rank > FG_TENSOR_RANK_MAX)
        return fg_error_set (err, FG_EINVAL, "tensor '%s': rank %u not in 1..%d",
                             name, rank, FG_TENSOR_RANK_MAX);
    if (kind != FG_TENSOR_PARAM && kind != FG_TENSOR_BUFFER)
        return fg_error_set (err, FG_EINVAL, "tensor '%s': unknown kind %d", name, (int) kind);
    if (fg_state_find (self, name))
        return fg_error_set (err, FG_EINVAL, "tensor '%s' defined twice", name);
    uint64_t count = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (shape [i] == 0 || shape [i] > ((uint64_t) 1 << 32) || count > ((uint64_t) 1 << 34) / shape [i])
            return fg_error_set (err, FG_EINVAL, "tensor '%s': dimension %u (%llu) is zero or too large",
                                 name, i, (unsigned long long) shape [i]);
        count *= shape [i];
    }
    fg_tensor_view_t *views = realloc (self->views, (self->nviews + 1) * sizeof *views);
    if (!views)
        return fg_error_set (err, FG_ENOMEM, "tensor '%s': out of memory", name);
    self->views = views;
    fg_tensor_view_t *view = &self->views [self->nviews++];
    memset (view, 0, sizeof *view);
    strcpy (view->name, name);
    view->kind = kind;
    view->rank = rank;
    for (uint32_t i = 0; i < FG_TENSOR_RANK_MAX; i++)
        view->shape [i] = i < rank? shape [i]: 1;
    view->offset = self->size;
    view->count = count;
    self->size += count;
    return 0;
}

int
fg_state_alloc (fg_state_t *self, fg_error_t *err)
{
    float *data = s_alloc_floats (self->size);
    if (!data)
        return fg_error_set (err, FG_ENOMEM, "state of %zu floats: out of memory", self->size);
    free (self->data);
    self->data = data;
    return 0;
}

int
fg_state_add (fg_state_t *self, const char *name, fg_tensor_kind_t kind,
              uint32_t rank, const uint64_t *shape, fg_error_t *err)
{
    size_t size = self->size;
    int rc = fg_state_add_view (self, name, kind, rank, shape, err);
    if (rc)
        return rc;
    float *data = s_alloc_floats (self->size);
    if (!data) {
        self->nviews--;
        self->size = size;
        return fg_error_set (err, FG_ENOMEM, "tensor '%s': out of memory", name);
    }
    if (size)
        memcpy (data, self->data, size * sizeof (float));
    free (self->data);
    self->data = data;
    return 0;
}

fg_state_t *
fg_state_zeros_like (const fg_state_t *self)
{
    fg_state_t *copy = fg_state_new ();
    if (!copy)
        return NULL;
    copy->views = malloc ((self->nviews? self->nviews: 1) * sizeof *copy->views);
    copy->data = s_alloc_floats (self->size);
    if (!copy->views || !copy->data) {
        fg_state_destroy (&copy);
        return NULL;
    }
    memcpy (copy->views, self->views, self->nviews * sizeof *copy->views);
    copy->nviews = self->nviews;
    copy->size = self->size;
    return copy;
}

fg_state_t *
fg_state_dup (const fg_state_t *self)
{
    fg_state_t *copy = fg_state_zeros_like (self);
    if (copy && self->size)
        memcpy (copy->data, self->data, self->size * sizeof (float));
    return copy;
}

const fg_tensor_view_t *
fg_state_find (const fg_state_t *self, const char *name)
{
    for (size_t i = 0; i < self->nviews; i++)
        if (strcmp (self->views [i].name, name) == 0)
            return &self->views [i];
    return NULL;
}

bool
fg_state_same_layout (const fg_state_t *a, const fg_state_t *b, fg_error_t *err)
{
    if (a->nviews != b->nviews || a->size != b->size) {
        fg_error_set (err, FG_EMISMATCH, "%zu tensors of %zu floats against %zu tensors of %zu floats",
                      a->nviews, a->size, b->nviews, b->size);
        return false;
    }
    for (size_t i = 0; i < a->nviews; i++) {
        const fg_tensor_view_t *x = &a->views [i], *y = &b->views [i];
        if (strcmp (x->name, y->name) || x->kind != y->kind || x->rank != y->rank
        ||  x->offset != y->offset || memcmp (x->shape, y->shape, sizeof x->shape)) {
            fg_error_set (err, FG_EMISMATCH, "tensor %zu: '%s' against '%s' (name, kind or shape differ)",
                          i, x->name, y->name);
            return false;
        }
    }
    return true;
}

int
fg_state_copy_data (fg_state_t *a, const fg_state_t *b, fg_error_t *err)
{
    if (!fg_state_same_layout (a, b, err))
        return FG_EMISMATCH;
    if (a->size)
        memcpy (a->data, b->data, a->size * sizeof (float));
    return 0;
}

void
fg_state_hash (const fg_state_t *self, char hex [65])
{
    fg_sha256_t ctx;
    fg_sha256_init (&ctx);
    for (size_t i = 0; i < self->nviews; i++) {
        const fg_tensor_view_t *v = &self->views [i];
        uint8_t head [FG_TENSOR_NAME_MAX + 8 + 8 * FG_TENSOR_RANK_MAX];
        memset (head, 0, sizeof head);
        memcpy (head, v->name, strlen (v->name));
        head [FG_TENSOR_NAME_MAX] = (uint8_t) v->kind;
        head [FG_TENSOR_NAME_MAX + 4] = (uint8_t) v->rank;
        for (int d = 0; d < FG_TENSOR_RANK_MAX; d++)
            for (int k = 0; k < 8; k++)
                head [FG_TENSOR_NAME_MAX + 8 + 8 * d + k] = (uint8_t) (v->shape [d] >> (8 * k));
        fg_sha256_update (&ctx, head, sizeof head);
    }
    //  float bytes little-endian: the only byte order we build for (x86-64,
    //  aarch64); fg_blob refuses big-endian hosts at build time.
    fg_sha256_update (&ctx, self->data, self->size * sizeof (float));
    uint8_t digest [32];
    fg_sha256_final (&ctx, digest);
    fg_sha256_hex (digest, hex);
}
