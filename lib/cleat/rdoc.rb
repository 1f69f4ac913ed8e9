# frozen_string_literal: true

require "rdoc"
require_relative "doc_source"

module Cleat
  # RDoc's C parser, reading Cleat's macros as the calls it knows
  # (Cleat::DocSource). RDoc loads it through lib/rdoc/discover.rb from any
  # installed cleat gem, so `rdoc` and `gem install --document` list a
  # Cleat-based gem's classes and methods, with their call-seq comments.
  # Files that do not use Cleat are parsed exactly as before.
  class RDocParser < RDoc::Parser::C
    # The same files as RDoc::Parser::C; registered later, so chosen first.
    parse_files_matching(/\.(?:([CcHh])\1?|c([+xp])\2|y)\z/)

    def scan
      @content = DocSource.translate(@content)
      super
    end
  end
end
