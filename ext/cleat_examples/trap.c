/* trap.c - the chapter's Wasmtime::Trap: an exception whose instances carry
 * native data. Its struct holds no Ruby references: nothing to mark. */
#include "examples.h"

#include <stdarg.h>

typedef struct trap {
    int code; /* enum trap_code; zero (no code) is a valid trap */
} trap_t;

static const char *const trap_code_names[] = {
    [TRAP_NONE] = NULL,
    [TRAP_STACK_OVERFLOW] = "STACK_OVERFLOW",
    [TRAP_MEMORY_OUT_OF_BOUNDS] = "MEMORY_OUT_OF_BOUNDS",
    [TRAP_UNREACHABLE] = "UNREACHABLE",
};

/* An exception carrying a trap code (#code). Zeroed is valid:
 * Trap.new("message") from Ruby is a trap without a code.
 * Copyable: `raise trap, "other message"` clones it. */
CLEAT_TYPE(trap_type, "CleatExamples::Trap", trap_t, NULL,
            .flags = CLEAT_ZERO_IS_VALID | CLEAT_COPYABLE);

void cleat_examples_raise_trap(enum trap_code code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    VALUE message = rb_vsprintf(format, args);
    va_end(args);
    VALUE exc;
    trap_t *t = cleat_exception_new(&trap_type, message, &exc);
    t->code = code;
    rb_exc_raise(exc);
}

static VALUE code_symbol(const trap_t *t)
{
    const char *name = t->code > 0 && t->code < TRAP_CODE_COUNT ? trap_code_names[t->code] : NULL;
    return name ? ID2SYM(rb_intern(name)) : Qnil;
}

/*
 * call-seq:
 *   trap.code -> symbol or nil
 *
 *   begin
 *     CleatExamples::Memory.new(1).read(65536, 1)
 *   rescue CleatExamples::Trap => e
 *     e.code #=> :MEMORY_OUT_OF_BOUNDS
 *   end
 */
CLEAT_SHARED(trap_code, trap_type, trap_t *t) { return code_symbol(t); }

/*
 * call-seq:
 *   trap.inspect -> string
 *
 *   #<CleatExamples::Trap:0x00007f0123456789 @trap_code=MEMORY_OUT_OF_BOUNDS>
 */
CLEAT_SHARED(trap_inspect, trap_type, trap_t *t)
{
    VALUE code = code_symbol(t);
    /* rb_class_name, a String: PRIsVALUE of the class would call its to_s. */
    return rb_sprintf("#<%" PRIsVALUE ":0x%016" PRIxVALUE " @trap_code=%" PRIsVALUE ">",
                      rb_class_name(rb_obj_class(self)),
                      self, NIL_P(code) ? rb_str_new_cstr("nil") : rb_sym2str(code));
}

void cleat_examples_init_trap(VALUE mod)
{
    (void)mod;
    VALUE trap = cleat_type_define_class(&trap_type, rb_eStandardError);
    CLEAT_DEFINE_METHOD(trap, "code", trap_code);
    CLEAT_DEFINE_METHOD(trap, "inspect", trap_inspect);
}
