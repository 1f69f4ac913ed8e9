/* string.c - Ruby Strings from native memory: one copy, and UTF-8 that is
 * validated once and never scanned again. */
#include "internal.h"

#include <ruby/encoding.h>

static long string_length(size_t len)
{
    if (len > LONG_MAX) rb_raise(rb_eArgError, "string length %zu too large", len);
    return (long)len;
}

VALUE cleat_str_binary(const void *ptr, size_t len)
{
    CLEAT__NEEDS_GVL();
    return rb_str_new(ptr, string_length(len));
}

VALUE cleat_str_utf8(const void *ptr, size_t len)
{
    CLEAT__NEEDS_GVL();
    long length = string_length(len);
    size_t error = 0;
    cleat_utf8_result result = cleat_str_utf8_check(ptr, len, &error);
    if (result == CLEAT_UTF8_INVALID) rb_raise(rb_eEncodingError, "invalid UTF-8 at byte offset %zu", error);
    VALUE str = rb_utf8_str_new(ptr, length);
    RB_ENC_CODERANGE_SET(str, result == CLEAT_UTF8_ASCII ? RUBY_ENC_CODERANGE_7BIT : RUBY_ENC_CODERANGE_VALID);
    return str;
}
