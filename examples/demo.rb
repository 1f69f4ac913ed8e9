# frozen_string_literal: true

# A narrated run of every example: what each does, and the errors Cleat
# raises where hand-written C would have crashed or corrupted memory.
#   bin/demo        (or: bundle exec rake demo)
require "cleat"
require "cleat_examples"
require "objspace"

include CleatExamples # rubocop:disable Style/MixinUsage

def say(text) = puts("\n== #{text}")

def show(code)
  value = yield
  puts "  #{code.ljust(44)} #=> #{value.inspect}"
rescue StandardError => e
  puts "  #{code.ljust(44)} !! #{e.class}: #{e.message}"
end

say "Counter: a C struct with no Ruby references (nothing to mark)"
counter = Counter.new(5)
show("counter = Counter.new(5)") { counter }
show("counter.increment(2)") { counter.increment(2) }
show("counter.value") { counter.value }
show("counter.increment(1.5)") { counter.increment(1.5) }
show("Counter.new(2**63 - 1).increment(1)") { Counter.new(2**63 - 1).increment(1) }
show("counter.value  # unchanged by the errors") { counter.value }
show("Counter.allocate.value  # never initialised") { Counter.allocate.value }
show("counter.dup.increment(10)") { counter.dup.increment(10) }
show("counter.freeze.increment(1)") { counter.freeze.increment(1) }

say "Person: VALUE fields declared once; Cleat marks, moves and guards them"
alice = Person.new("Alice", %w[chess climbing])
bob = Person.new("Bob", ["go"])
show('alice = Person.new("Alice", %w[chess climbing])') { alice }
show("alice.add_friend(bob).friend.name") { alice.add_friend(bob).friend.name }
show("Person.new(42, [])") { Person.new(42, []) }
show("alice.add_friend(nil)") { alice.add_friend(nil) }
show("alice.add_friend(counter)") { alice.add_friend(counter) }
show("ObjectSpace.dump(alice) write-barrier protected?") { ObjectSpace.dump(alice).include?('"wb_protected":true') }
show("ObjectSpace.memsize_of(alice)") { ObjectSpace.memsize_of(alice) }
GC.stress = true
show("under GC.stress: Person.new(\"Zoe\", [\"x\"]).name") { Person.new(+"Zoe", [+"x"]).name }
GC.stress = false
keys = GC.method(:verify_compaction_references).parameters.map(&:last)
compact = keys.include?(:expand_heap) ? { expand_heap: true, toward: :empty } : { double_heap: true, toward: :empty }
GC.verify_compaction_references(**compact)
show("after GC.compact: alice.friend.hobbies") { alice.friend.hobbies }

say "Cycles: Ruby's GC traces from roots, so friends of each other are still collected"
# The finalizer is built by a method: a block here would capture `a` and keep it alive.
def counts_into(list) = proc { list << 1 }
collected = []
Thread.new do
  20.times do
    a = Person.new("a", [])
    b = Person.new("b", [])
    a.add_friend(b)
    b.add_friend(a)
    ObjectSpace.define_finalizer(a, counts_into(collected))
  end
end.join
10.times do
  GC.start
  break if collected.size >= 15

  sleep 0.01
end
show("pairs collected out of 20") { collected.size }

say "MutCounter: the chapter's RefCell counter; one exclusive borrow, no BorrowMutError"
mut = MutCounter.new(1)
show("mut.increment") { mut.increment }
show("mut.add(40)") { mut.add(40) }
show("mut.add(2**63 - 1)") { mut.add(2**63 - 1) }
show("mut.count") { mut.count }

say "Game: shared and exclusive methods, and a block that tries to re-enter"
game = Game.new
show('game.add_player("Alice")') { game.add_player("Alice") }
show('game.add_player("Bob")') { game.add_player("Bob") }
show("game.next_player_scores(10)") { game.next_player_scores(10) }
show("game.next_player_scores(5)") { game.next_player_scores(5) }
show("Game.new.next_player_scores(1)") { Game.new.next_player_scores(1) }
game.each_player do |name|
  show("  inside each_player(#{name}): game.score") { game.score }
  show("  inside each_player(#{name}): game.add_player(\"Eve\")") { game.add_player("Eve") }
end
show("game.each_player { raise \"oops\" }") { game.each_player { raise "oops" } }
show('afterwards game.add_player("Carol")') { game.add_player("Carol") }
fiber = Fiber.new do
  game.each_player { |name| Fiber.yield name }
  :finished
end
show("fiber.resume  # suspends inside each_player") { fiber.resume }
show('game.add_player("Dan")  # still borrowed') { game.add_player("Dan") }
show("fiber.resume until it ends") { fiber.resume && fiber.resume && fiber.resume }
show('game.add_player("Dan")') { game.add_player("Dan") }
show("game.dup") { game.dup }

say "Memory and MemorySlice: Ruby objects pointing into native memory that grows"
Warning[:experimental] = false # IO::Buffer is experimental on Ruby 3.1
memory = Memory.new(1, 2)
show("memory = Memory.new(1, 2)  # pages of 64 KiB") { memory.data_size }
show('memory.write(0, "Grüße aus C")') { memory.write(0, "Grüße aus C") }
slice = memory.slice(0, 13)
show("slice = memory.slice(0, 13); slice.to_utf8_str") { slice.to_utf8_str }
buffer = slice.to_buffer
show("buffer = slice.to_buffer  # zero-copy") { buffer.get_string.force_encoding(Encoding::UTF_8) }
show("memory.read(65_530, 10)  # out of bounds") { memory.read(65_530, 10) }
show("memory.slice(2**64, 1)") { memory.slice(2**64, 1) }
show("memory.checksum  # FNV-1a without the GVL") { memory.checksum }
show("memory.grow(1)  # moves the bytes") { memory.grow(1) }
show("slice.to_str  # the slice saw the move") { slice.to_str }
show("buffer.get_string  # the buffer was freed") { buffer.get_string }
show("memory.grow(5)") { memory.grow(5) }
show("memory.slice(0, 13).to_utf8_str") { memory.slice(0, 13).to_utf8_str }
memory.write(1, "\xFF".b)
show("after writing 0xFF at 1: to_utf8_str") { memory.slice(0, 13).to_utf8_str }

say "Trap: an exception that carries native data"
trap = begin
  memory.read(10**9, 1)
rescue Trap => e
  e
end
show("trap.code") { trap.code }
show("trap.message") { trap.message }
show("trap.inspect") { trap.inspect }

puts "\nEvery error above was raised on purpose; none of them could crash Ruby."
