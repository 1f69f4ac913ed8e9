/* game.c - the chapter's MutGame: shared and exclusive methods, and a
 * method that yields while the game is borrowed.
 *
 * In Rust the danger was a RefCell borrow still alive when a mutable one
 * began. In C the danger is worse: each_player walks the players array while
 * the block runs, and a block that called add_player would grow (move) that
 * array under the loop. Cleat lends the game, shared, for each yield, so
 * add_player from the block raises Cleat::BorrowError instead. */
#include "examples.h"

#include <ruby/encoding.h>
#include <stdio.h>

typedef struct game {
    cleat_values players; /* frozen Strings */
    size_t current_player;
    int64_t score;
} game_t;

static const cleat_field game_fields[] = {
    CLEAT_FIELD_VALUES(game_t, players, &rb_cString),
    CLEAT_FIELDS_END,
};

/* Players (Strings) and their scores. #each_player lends the game shared
 * while it yields, so a block that calls #add_player raises
 * Cleat::BorrowError. A game in progress has an identity: dup and clone
 * raise TypeError. */
CLEAT_TYPE(game_type, "CleatExamples::Game", game_t, game_fields);

/*
 * call-seq:
 *   Game.new -> game
 *
 * A game with no players and a score of 0.
 */
CLEAT_INIT(game_initialize, game_type, game_t *g)
{
    (void)g; /* allocation zeroed it: no players, score 0 */
    return self;
}

/*
 * call-seq:
 *   game.add_player(name) -> number of players
 *
 * Keeps a frozen copy of name, so later changes to the caller's string do
 * not rename the player.
 */
CLEAT_EXCLUSIVE(game_add_player, game_type, game_t *g, name)
{
    cleat_check_kind(name, rb_cString);
    size_t count = cleat_values_push(self, &g->players, rb_str_new_frozen(name));
    return SIZET2NUM(count);
}

/*
 * call-seq:
 *   game.players -> array of names
 *
 * A new Array of the players' names, in the order they joined.
 */
CLEAT_SHARED(game_players, game_type, game_t *g) { return cleat_values_to_ary(&g->players); }

/*
 * call-seq:
 *   game.score -> integer
 *
 * The score so far.
 */
CLEAT_SHARED(game_score, game_type, game_t *g) { return LL2NUM(g->score); }

/*
 * call-seq:
 *   game.next_player_scores(points) -> message
 *
 * Adds points to the score on behalf of the current player and moves to the
 * next one. RuntimeError "No players in game" without players; RangeError
 * "result too large" when the score would overflow (nothing changes).
 *
 *   game.next_player_scores(10) #=> "Alice scored 10 points! New total: 10"
 */
CLEAT_EXCLUSIVE(game_next_player_scores, game_type, game_t *g, points)
{
    if (g->players.len == 0) rb_raise(rb_eRuntimeError, "No players in game");
    int64_t earned = cleat_to_int64(points), total;
    if (__builtin_add_overflow(g->score, earned, &total)) rb_raise(rb_eRangeError, "result too large");
    /* As Ruby's "#{name} scored #{earned} points! New total: #{total}":
     * the name's bytes and encoding, then UTF-8 text appended with Ruby's
     * own encoding check, so a name in an encoding that is not ASCII
     * compatible (UTF-16LE) raises Encoding::CompatibilityError instead of
     * making mojibake. The name is copied, not formatted: rb_sprintf raised
     * ArgumentError "string contains null byte" for such names (found by
     * the fuzzer). All before the game changes, so an error changes nothing. */
    VALUE name = g->players.ptr[g->current_player];
    VALUE message = rb_enc_str_new(RSTRING_PTR(name), RSTRING_LEN(name), rb_enc_get(name));
    char text[96];
    int n = snprintf(text, sizeof text, " scored %" PRId64 " points! New total: %" PRId64, earned, total);
    rb_str_buf_append(message, rb_utf8_str_new(text, n));
    RB_GC_GUARD(name);
    g->score = total;
    g->current_player = (g->current_player + 1) % g->players.len;
    return message;
}

static VALUE game_player_count(VALUE self, VALUE args, VALUE enumerator)
{
    (void)args, (void)enumerator;
    const game_t *g = cleat_unwrap(self, &game_type);
    return SIZET2NUM(g->players.len);
}

/*
 * call-seq:
 *   game.each_player { |name| ... } -> game
 *   game.each_player                -> enumerator
 *
 * Yields every player's name with the game lent shared: inside the block
 * players and score work, add_player and next_player_scores raise
 * Cleat::BorrowError.
 */
CLEAT_SHARED(game_each_player, game_type, game_t *g)
{
    RETURN_SIZED_ENUMERATOR(self, 0, 0, game_player_count);
    /* The loan keeps the array from changing while the block runs. */
    for (size_t i = 0; i < g->players.len; i++) CLEAT_YIELD(g->players.ptr[i]);
    return self;
}

void cleat_examples_init_game(VALUE mod)
{
    (void)mod;
    VALUE game = cleat_type_define_class(&game_type, rb_cObject);
    CLEAT_DEFINE_METHOD(game, "initialize", game_initialize);
    CLEAT_DEFINE_METHOD(game, "add_player", game_add_player);
    CLEAT_DEFINE_METHOD(game, "players", game_players);
    CLEAT_DEFINE_METHOD(game, "score", game_score);
    CLEAT_DEFINE_METHOD(game, "next_player_scores", game_next_player_scores);
    CLEAT_DEFINE_METHOD(game, "each_player", game_each_player);
}
