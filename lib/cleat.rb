# frozen_string_literal: true

require_relative "cleat/version"

# Cleat: Ruby native extensions in C that cannot crash the interpreter.
#
# The C library (include/cleat.h) defines the same classes when an
# extension loads, looking them up first, so they exist once per process
# whichever side comes first.
module Cleat
  # Base class for Cleat's own errors that are not borrow conflicts.
  class Error < StandardError; end

  # An object was used while another part of the program had borrowed it:
  # a block re-entering the method that yielded to it, another thread
  # during a GVL-free section, a fiber suspended mid-iteration.
  class BorrowError < RuntimeError; end

  # A view into native memory was used after the memory moved, shrank or was
  # freed.
  class StaleReferenceError < RuntimeError; end
end
