/* person.c - the chapter's Person: a struct holding Ruby objects.
 *
 * The fields are declared once; Tether derives mark, compaction, memsize and
 * write barriers from the declaration. There is no mark function here. */
#include "examples.h"

typedef struct person {
    VALUE name;    /* a String */
    VALUE hobbies; /* an Array */
    VALUE friend;  /* a Person, or nil */
} person_t;

static tether_type person_type;

static const tether_field person_fields[] = {
    TETHER_FIELD(person_t, name, &rb_cString),
    TETHER_FIELD(person_t, hobbies, &rb_cArray),
    TETHER_FIELD_OR_NIL(person_t, friend, &person_type),
    TETHER_FIELDS_END,
};

/* Frozen shareable: Ractor.make_shareable(person) deep-freezes it and its
 * fields, and other Ractors may then read it. */
TETHER_TYPE(person_type, "TetherExamples::Person", person_t, person_fields,
            .flags = TETHER_COPYABLE | TETHER_FROZEN_SHAREABLE);

/*
 * call-seq:
 *   Person.new(name, hobbies) -> person
 *
 * name must be a String and hobbies an Array (TypeError otherwise).
 *
 *   TetherExamples::Person.new("Alice", ["chess"]).name #=> "Alice"
 */
TETHER_INIT(person_initialize, person_type, person_t *p, name, hobbies)
{
    tether_write(self, &p->name, name);
    tether_write(self, &p->hobbies, hobbies);
    p->friend = Qnil; /* nil is an immediate: no write barrier needed */
    return self;
}

/* call-seq: person.name -> string */
TETHER_SHARED(person_name, person_type, person_t *p) { return p->name; }

/* call-seq: person.hobbies -> array */
TETHER_SHARED(person_hobbies, person_type, person_t *p) { return p->hobbies; }

/* call-seq: person.friend -> person or nil */
TETHER_SHARED(person_friend, person_type, person_t *p) { return p->friend; }

/*
 * call-seq:
 *   person.add_friend(other) -> person
 *
 * other must be an initialised Person (TypeError otherwise, nil included).
 * Two people may be each other's friends: Ruby's tracing GC still collects
 * the pair once nothing else refers to them.
 */
TETHER_EXCLUSIVE(person_add_friend, person_type, person_t *p, other)
{
    tether_unwrap(other, &person_type); /* TypeError unless an initialised Person */
    tether_write(self, &p->friend, other);
    return self;
}

void tether_examples_init_person(VALUE mod)
{
    (void)mod;
    VALUE person = tether_type_define_class(&person_type, rb_cObject);
    TETHER_DEFINE_METHOD(person, "initialize", person_initialize);
    TETHER_DEFINE_METHOD(person, "name", person_name);
    TETHER_DEFINE_METHOD(person, "hobbies", person_hobbies);
    TETHER_DEFINE_METHOD(person, "friend", person_friend);
    TETHER_DEFINE_METHOD(person, "add_friend", person_add_friend);
}
