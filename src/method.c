/* method.c - the door's slow path: why a receiver was refused. The fast
 * path is cleat__enter in cleat.h. */
#include "internal.h"

CLEAT__COLD void *cleat__enter_slow(VALUE obj, const cleat_type *type, int mode)
{
    if (!cleat_is(obj, type)) cleat__raise_wrong_type(obj, type->class_path);
    void *data = RTYPEDDATA_DATA(obj);
    cleat_header *h = cleat__header(data);
    /* Class names from rb_class_name: PRIsVALUE of a class calls its to_s,
     * Ruby code, and obj may be inside another door (an initialize running). */
    if (mode == 0) { /* initialize and initialize_copy */
        if (h->state & CLEAT__BUILDING) /* its .init_fields or .copy runs, or raised (type.c, copy.c) */
            rb_raise(rb_eTypeError, "unusable %" PRIsVALUE ": its init_fields or copy callback did not finish",
                     cleat__class_name(obj));
        if (h->state & CLEAT__INIT)
            rb_raise(rb_eTypeError, "already initialized %" PRIsVALUE, cleat__class_name(obj));
    } else if (!(h->state & CLEAT__INIT)) {
        rb_raise(rb_eTypeError, "uninitialized %" PRIsVALUE, cleat__class_name(obj));
    }
    /* Not rb_error_frozen_object: it calls obj.inspect and the class's to_s,
     * Ruby code, while obj may be inside a shared method (a frozen object
     * takes no loans). Same class of error, same receiver. */
    if (mode != CLEAT_BORROW_SHARED && OBJ_FROZEN(obj))
        rb_frozen_error_raise(obj, "can't modify frozen %" PRIsVALUE, cleat__class_name(obj));
    /* Untouched since allocation (.init_fields): no longer, once an
     * exclusive method runs (dup/clone's target check, type.c). */
    if (mode == CLEAT_BORROW_EXCLUSIVE && (h->state & CLEAT__FRESH)) {
        h->state &= ~CLEAT__FRESH;
        if (h->state == CLEAT__INIT) return data;
    }
    /* Lent: perhaps only by holders that can no longer run (a frozen
     * object's too: loans made before it was frozen). */
    if (cleat__reclaim_loans(obj, h)) {
        uint32_t s = h->state;
        if (mode == CLEAT_BORROW_SHARED ? (s & (CLEAT__INIT | CLEAT__LENT_EXCL)) == CLEAT__INIT
                                        : s == (mode ? CLEAT__INIT : 0u))
            return data;
    }
    cleat__borrow_conflict(obj, h, mode);
}
