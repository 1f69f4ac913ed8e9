/* view.c - checked references into a region: made with its bounds checked,
 * refused when the region has changed since. The fast check is
 * cleat_view_bytes in cleat.h. */
#include "internal.h"

void cleat_view_init(VALUE self, cleat_view *v, VALUE owner, const cleat_region *r, size_t offset,
                      size_t length)
{
    CLEAT__NEEDS_GVL();
    const cleat_type *owner_type = cleat_type_of(owner);
    if (!owner_type) cleat__raise_wrong_type(owner, "a Cleat object");
    uintptr_t data = (uintptr_t)RTYPEDDATA_DATA(owner), region = (uintptr_t)r;
    if (region < data || region - data > owner_type->size ||
        owner_type->size - (region - data) < sizeof *r)
        rb_raise(rb_eArgError, "cleat_view_init: the region is not inside the owner's struct");
    if (!r->base)
        rb_raise(cleat_eStaleReferenceError, "memory was released, reference is no longer valid");
    if (!cleat_region_contains(r, offset, length)) rb_raise(rb_eRangeError, "view out of bounds");
    cleat__write_view_owner(self, &v->owner, owner); /* CLEAT_FIELD_VIEW: checked, marked */
    v->region = r;
    v->offset = offset;
    v->length = length;
    v->generation = r->generation;
}

const unsigned char *cleat__view_failed(const cleat_view *v)
{
#ifdef CLEAT_DEBUG
    cleat__debug_needs_gvl("cleat_view_bytes");
#endif
    const cleat_region *r = v->region;
    if (r->generation != v->generation || !cleat_region_contains(r, v->offset, v->length))
        rb_raise(cleat_eStaleReferenceError, "memory was resized, reference is no longer valid");
    /* Lent exclusively: by a method still running, or by a fiber collected
     * since (an abandoned enumerator), whose loan comes back here; the door
     * does the same, but a program may use only the view. */
    cleat_header *h = cleat__header(RTYPEDDATA_DATA(v->owner));
    if (cleat__reclaim_loans(v->owner, h) && !(h->state & CLEAT__LENT_EXCL)) /* as the door */
        return r->base + v->offset;
    cleat__borrow_conflict(v->owner, h, CLEAT_BORROW_SHARED);
}
