# frozen_string_literal: true

# Build support for gems whose C extensions use Tether.
#
#   # ext/my_gem/extconf.rb
#   require "tether/mkmf"
#   create_tether_makefile("my_gem/my_gem")
#
# Tether's sources are compiled into the extension itself (no shared library
# to find at run time); its symbols are hidden, so several Tether-based gems
# load side by side.
require "mkmf"

module Tether
  # Where the gem keeps the header and the library's C sources.
  module Build
    ROOT = File.expand_path("../..", __dir__)
    INCLUDE_DIR = File.join(ROOT, "include")
    SOURCE_DIR = File.join(ROOT, "src")

    module_function

    # Adds Tether to the mkmf globals: header path, the library's sources
    # (through one-line wrappers named tether_*.c, so they never collide with
    # the extension's own file names) and the flags.
    # Heap and globals are checked; stack frames are not instrumented
    # (asan-stack=0): Ruby unwinds them with longjmp and switches fiber stacks
    # without telling the sanitizer, which leaves stale redzones that turn
    # into false reports inside Ruby itself.
    SANITIZE_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer " \
                     "--param=asan-stack=0 -g -O1"

    def configure(werror:, debug:, sanitize: ENV["TETHER_SANITIZE"] == "1")
      $INCFLAGS << " -I#{INCLUDE_DIR}"
      own = Dir[File.join($srcdir, "*.c")].map { |path| File.basename(path) }
      wrappers = Dir[File.join(SOURCE_DIR, "*.c")].sort.map do |path|
        name = "tether_#{File.basename(path)}"
        content = "#include \"#{path}\"\n"
        File.write(name, content) unless File.exist?(name) && File.read(name) == content
        name
      end
      $srcs = own + wrappers
      have_header("ruby/io/buffer.h") # IO::Buffer views (Ruby 3.1+)
      have_const("RUBY_TYPED_DECL_MARKING", "ruby.h") # declarative marking (Ruby 3.3+)
      have_func("rb_ext_ractor_safe", "ruby.h")
      if debug
        # Exported by libruby without a public declaration; used only by the
        # debug checks, which do without them where a Ruby lacks them.
        have_func("ruby_thread_has_gvl_p")
        have_func("rb_objspace_marked_object_p")
        $defs << "-DTETHER_DEBUG=1"
      end
      $CFLAGS << " -Werror" if werror
      return unless sanitize

      $CFLAGS << " #{SANITIZE_FLAGS}"
      $LDFLAGS << " -fsanitize=address,undefined"
      $DLDFLAGS << " -fsanitize=address,undefined"
    end

    # make knows the wrappers, not the files they include: name those too, so
    # an edit to Tether's sources or header rebuilds what depends on it.
    def append_dependencies(makefile = "Makefile")
      headers = Dir[File.join(INCLUDE_DIR, "*.h"), File.join(SOURCE_DIR, "*.h")].sort.join(" ")
      rules = ["", "# Tether's sources and headers", "$(OBJS): #{headers}"]
      Dir[File.join(SOURCE_DIR, "*.c")].sort.each do |path|
        rules << "tether_#{File.basename(path, ".c")}.#{$OBJEXT}: #{path}"
      end
      File.write(makefile, rules.join("\n") + "\n", mode: "a")
    end
  end
end

# Writes the Makefile for +target+ with Tether compiled in. Warnings become
# errors with werror: true (or TETHER_WERROR=1). The debug checks are on with
# debug: true, TETHER_DEBUG=1 or `--enable-tether-debug`; TETHER_SANITIZE=1
# builds with AddressSanitizer and UBSan (what `rake test:asan` does).
def create_tether_makefile(target, werror: ENV["TETHER_WERROR"] == "1",
                           debug: ENV["TETHER_DEBUG"] == "1" || enable_config("tether-debug", false))
  Tether::Build.configure(werror: werror, debug: debug)
  create_makefile(target)
  Tether::Build.append_dependencies
end
