/* person.c - the chapter's Person: a struct holding Ruby objects.
 *
 * The fields are declared once; Cleat derives mark, compaction, memsize and
 * write barriers from the declaration. There is no mark function here. */
#include "examples.h"

typedef struct person {
    VALUE name;    /* a String */
    VALUE hobbies; /* an Array */
    VALUE friend;  /* a Person, or nil */
} person_t;

static cleat_type person_type;

static const cleat_field person_fields[] = {
    CLEAT_FIELD(person_t, name, &rb_cString),
    CLEAT_FIELD(person_t, hobbies, &rb_cArray),
    CLEAT_FIELD_OR_NIL(person_t, friend, &person_type),
    CLEAT_FIELDS_END,
};

/* A name (String), hobbies (Array) and a friend (a Person or nil).
 * Frozen shareable: Ractor.make_shareable(person) deep-freezes it and its
 * fields, and other Ractors may then read it. */
CLEAT_TYPE(person_type, "CleatExamples::Person", person_t, person_fields,
            .flags = CLEAT_COPYABLE | CLEAT_FROZEN_SHAREABLE);

/*
 * call-seq:
 *   Person.new(name, hobbies) -> person
 *
 * name must be a String and hobbies an Array (TypeError otherwise).
 *
 *   CleatExamples::Person.new("Alice", ["chess"]).name #=> "Alice"
 */
CLEAT_INIT(person_initialize, person_type, person_t *p, name, hobbies)
{
    cleat_write(self, &p->name, name);
    cleat_write(self, &p->hobbies, hobbies);
    p->friend = Qnil; /* nil is an immediate: no write barrier needed */
    return self;
}

/*
 * call-seq:
 *   person.name -> string
 *
 * The name given to ::new.
 */
CLEAT_SHARED(person_name, person_type, person_t *p) { return p->name; }

/*
 * call-seq:
 *   person.hobbies -> array
 *
 * The hobbies given to ::new.
 */
CLEAT_SHARED(person_hobbies, person_type, person_t *p) { return p->hobbies; }

/*
 * call-seq:
 *   person.friend -> person or nil
 *
 * The friend set by #add_friend, or nil.
 */
CLEAT_SHARED(person_friend, person_type, person_t *p) { return p->friend; }

/*
 * call-seq:
 *   person.add_friend(other) -> person
 *
 * other must be an initialised Person (TypeError otherwise, nil included).
 * Two people may be each other's friends: Ruby's tracing GC still collects
 * the pair once nothing else refers to them.
 */
CLEAT_EXCLUSIVE(person_add_friend, person_type, person_t *p, other)
{
    cleat_unwrap(other, &person_type); /* TypeError unless an initialised Person */
    cleat_write(self, &p->friend, other);
    return self;
}

void cleat_examples_init_person(VALUE mod)
{
    (void)mod;
    VALUE person = cleat_type_define_class(&person_type, rb_cObject);
    CLEAT_DEFINE_METHOD(person, "initialize", person_initialize);
    CLEAT_DEFINE_METHOD(person, "name", person_name);
    CLEAT_DEFINE_METHOD(person, "hobbies", person_hobbies);
    CLEAT_DEFINE_METHOD(person, "friend", person_friend);
    CLEAT_DEFINE_METHOD(person, "add_friend", person_add_friend);
}
