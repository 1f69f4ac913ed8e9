/* method.c - the door's slow path: why a receiver was refused. The fast
 * path is tether__enter in tether.h. */
#include "internal.h"

void tether__enter_failed(VALUE obj, const tether_type *type, int mode)
{
    if (!tether_is(obj, type)) tether__raise_wrong_type(obj, type->class_path);
    const tether_header *h = tether__header(RTYPEDDATA_DATA(obj));
    if (mode == 0) { /* initialize and initialize_copy */
        if (h->state & TETHER__INIT)
            rb_raise(rb_eTypeError, "already initialized %" PRIsVALUE, rb_obj_class(obj));
    } else if (!(h->state & TETHER__INIT)) {
        rb_raise(rb_eTypeError, "uninitialized %" PRIsVALUE, rb_obj_class(obj));
    }
    if (mode != TETHER_BORROW_SHARED && OBJ_FROZEN(obj)) rb_error_frozen_object(obj);
    tether__borrow_conflict(obj, h, mode);
}
