# frozen_string_literal: true

# Loaded by RDoc from every installed gem (Gem.find_files "rdoc/discover"):
# RDoc then reads the classes and methods of C extensions written with Cleat.
require_relative "../cleat/rdoc"
