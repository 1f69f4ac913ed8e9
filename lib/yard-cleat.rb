# frozen_string_literal: true

# YARD reads the classes and methods of C extensions written with Cleat:
#   yard doc --plugin cleat      (or `--plugin cleat` in .yardopts)
# YARD's C parser then sees Cleat's macros as the rb_define_* calls and
# VALUE functions it knows (Cleat::DocSource), line for line. Files that do
# not use Cleat are parsed exactly as before.
require "yard"
require_relative "cleat/doc_source"

module Cleat
  # YARD's C parser, reading Cleat's macros.
  class YARDParser < YARD::Parser::C::CParser
    def initialize(source, file = "(stdin)")
      super(DocSource.translate(source), file)
    end
  end
end

YARD::Parser::SourceParser.register_parser_type(:c, Cleat::YARDParser, %w[c cc cxx cpp])
