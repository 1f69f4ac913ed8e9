/* view.c - checked references into a region: made with its bounds checked,
 * refused when the region has changed since. The fast check is
 * tether_view_bytes in tether.h. */
#include "internal.h"

void tether_view_init(VALUE self, tether_view *v, VALUE owner, const tether_region *r, size_t offset,
                      size_t length)
{
    TETHER__NEEDS_GVL();
    const tether_type *owner_type = tether_type_of(owner);
    if (!owner_type) tether__raise_wrong_type(owner, "a Tether object");
    uintptr_t data = (uintptr_t)RTYPEDDATA_DATA(owner), region = (uintptr_t)r;
    if (region < data || region - data > owner_type->size ||
        owner_type->size - (region - data) < sizeof *r)
        rb_raise(rb_eArgError, "tether_view_init: the region is not inside the owner's struct");
    if (!r->base)
        rb_raise(tether_eStaleReferenceError, "memory was released, reference is no longer valid");
    if (!tether_region_contains(r, offset, length)) rb_raise(rb_eRangeError, "view out of bounds");
    tether_write(self, &v->owner, owner); /* declared with TETHER_FIELD_VIEW: checked, marked */
    v->region = r;
    v->offset = offset;
    v->length = length;
    v->generation = r->generation;
}

void tether__view_failed(const tether_view *v)
{
    const tether_region *r = v->region;
    if (r->generation != v->generation || !tether_region_contains(r, v->offset, v->length))
        rb_raise(tether_eStaleReferenceError, "memory was resized, reference is no longer valid");
    tether__borrow_conflict(v->owner, tether__header(RTYPEDDATA_DATA(v->owner)), TETHER_BORROW_SHARED);
}
