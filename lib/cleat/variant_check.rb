# frozen_string_literal: true

module Cleat
  # Whether a process loaded the variant builds a task made (test:asan's
  # ASan builds, test:release's and test:fuzz:release's release builds)
  # rather than the extensions of the same name elsewhere (the ordinary
  # debug builds, through require_relative past the load path): either
  # would pass while testing something else. Used by Cleat::Testing after
  # a suite's run and by the fuzzer's child before its first operation.
  module VariantCheck
    module_function

    # Problems (messages) for the extensions built into lib that
    # loaded_features has from elsewhere; [] when lib is missing or empty.
    # label names the build in the messages ("release", "asan").
    def problems(lib, label, loaded_features: $LOADED_FEATURES)
      return [] if lib.to_s.empty? || !File.directory?(lib)

      lib = File.realpath(lib)
      built = Dir.glob("**/*.{so,bundle}", base: lib)
      loaded_features.filter_map do |feature|
        name = built.find { |b| feature.end_with?("/#{b}") }
        next if name.nil? || (File.exist?(feature) ? File.realpath(feature) : feature).start_with?("#{lib}/")

        "#{feature} was loaded, not the #{label} build #{File.join(lib, name)}: load the extension " \
          "through the load path (require \"#{name.sub(/\.(so|bundle)\z/, '')}\"), not with require_relative"
      end
    end
  end
end
