# frozen_string_literal: true

# Runs the ```ruby run blocks of docs/guide.md for test/test_docs.rb, after
# loading the extension built from its ```c runnable blocks. Each block runs
# in a fresh binding, reported as docs/guide.md:LINE; `expr # => value` and
# `expr # raises Klass: message` lines become checks (see test/test_docs.rb).
require "json"
require "cleat"
require "guide_examples"

$guide_failures = []
$guide_checks = 0

def __guide_expect(value, expected, line)
  $guide_checks += 1
  actual = value.inspect
  $guide_failures << "docs/guide.md:#{line}: expected #{expected}, got #{actual}" unless actual == expected
end

def __guide_raises(klass, message, line)
  $guide_checks += 1
  yield
  $guide_failures << "docs/guide.md:#{line}: expected #{klass} to be raised, nothing was"
rescue Exception => e # rubocop:disable Lint/RescueException
  return if e.class.name == klass && (message.nil? || e.message == message)

  $guide_failures << "docs/guide.md:#{line}: expected #{klass}#{": #{message}" if message}, " \
                     "got #{e.class}: #{e.message}"
end

def guide_transform(code, first_line)
  code.lines.each_with_index.map do |text, i|
    line = first_line + i
    if (m = text.match(/\A(\s*)(\S.*?)\s+# => (.+?)\s*\z/))
      "#{m[1]}__guide_expect((#{m[2]}), #{m[3].dump}, #{line})\n"
    elsif (m = text.match(/\A(\s*)(\S.*?)\s+# raises ([A-Z][\w:]*)(?:: (.+?))?\s*\z/))
      "#{m[1]}__guide_raises(#{m[3].dump}, #{m[4] ? m[4].dump : "nil"}, #{line}) { #{m[2]} }\n"
    else
      text
    end
  end.join
end

blocks = JSON.parse(File.read(ARGV.fetch(0)))
blocks.each do |block|
  code = guide_transform(block["code"], block["line"])
  begin
    eval(code, Object.new.instance_eval { binding }, "docs/guide.md", block["line"]) # rubocop:disable Security/Eval
  rescue Exception => e # rubocop:disable Lint/RescueException
    where = e.backtrace.find { |l| l.start_with?("docs/guide.md") } || "docs/guide.md:#{block["line"]}"
    $guide_failures << "#{where}: #{e.class}: #{e.message}"
  end
end
unless $guide_failures.empty?
  warn $guide_failures
  exit 1
end
puts "#{blocks.size} guide blocks ran, #{$guide_checks} results checked"
