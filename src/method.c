/* method.c - the door's slow path: why a receiver was refused. The fast
 * path is cleat__enter in cleat.h. */
#include "internal.h"

void *cleat__enter_slow(VALUE obj, const cleat_type *type, int mode)
{
    if (!cleat_is(obj, type)) cleat__raise_wrong_type(obj, type->class_path);
    void *data = RTYPEDDATA_DATA(obj);
    cleat_header *h = cleat__header(data);
    if (mode == 0) { /* initialize and initialize_copy */
        if (h->state & CLEAT__INIT)
            rb_raise(rb_eTypeError, "already initialized %" PRIsVALUE, rb_obj_class(obj));
    } else if (!(h->state & CLEAT__INIT)) {
        rb_raise(rb_eTypeError, "uninitialized %" PRIsVALUE, rb_obj_class(obj));
    }
    if (mode != CLEAT_BORROW_SHARED && OBJ_FROZEN(obj)) rb_error_frozen_object(obj);
    /* Lent: perhaps only by holders that can no longer run. */
    if (cleat__reclaim_loans(h)) {
        uint32_t s = h->state;
        if (mode == CLEAT_BORROW_SHARED ? (s & (CLEAT__INIT | CLEAT__LENT_EXCL)) == CLEAT__INIT
                                        : s == (mode ? CLEAT__INIT : 0u))
            return data;
    }
    cleat__borrow_conflict(obj, h, mode);
}
