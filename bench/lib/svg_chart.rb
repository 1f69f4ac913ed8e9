# frozen_string_literal: true

# A horizontal bar chart as SVG text, drawn without dependencies: one group
# of bars per measure, one bar per Ruby, its length the speed relative to the
# baseline on a log scale, a line at 1x ("as fast as the baseline").
module SvgChart
  module_function

  WIDTH = 900
  LABEL_WIDTH = 420
  BAR_HEIGHT = 22
  GAP = 8
  TOP = 56

  def escape(text) = text.to_s.gsub("&", "&amp;").gsub("<", "&lt;").gsub(">", "&gt;")

  COLORS = %w[#2a7ab0 #e08a1e #4b9e4b #8c5fb0 #c0392b].freeze

  # One group of bars per measure, one bar per series (a Ruby), on one log
  # scale with a line at 1x. items: [[label, [speed-up or nil per series]]];
  # a nil draws no bar ("-": not measured there). series: the legend.
  def grouped_bars(title, items, series, subtitle: "")
    # A log scale has no place for 0 or less (a timing that rounded to
    # nothing, as under valgrind): such a value draws no bar either.
    items = items.map { |label, vals| [label, vals.map { |v| v&.positive? && v.finite? ? v : nil }] }
    values = items.flat_map(&:last).compact
    values = [1.0] if values.empty?
    low = [0.5, values.min * 0.8].min
    high = [2.0, values.max * 1.25].max
    plot = WIDTH - LABEL_WIDTH - 80
    x = ->(v) { LABEL_WIDTH + (Math.log10(v / low) / Math.log10(high / low) * plot) }
    bar = 12
    group = (series.size * bar) + GAP + 4
    top = TOP + 22
    height = top + (items.size * group) + 40
    svg = []
    svg << %(<svg xmlns="http://www.w3.org/2000/svg" width="#{WIDTH}" height="#{height}" font-family="sans-serif" font-size="13">)
    svg << %(<rect width="100%" height="100%" fill="white"/>)
    svg << %(<text x="10" y="22" font-size="16" font-weight="bold">#{escape(title)}</text>)
    svg << %(<text x="10" y="42" fill="#555">#{escape(subtitle)}</text>)
    legend_x = 10
    series.each_with_index do |name, s|
      svg << %(<rect x="#{legend_x}" y="#{TOP - 2}" width="12" height="12" fill="#{COLORS[s % COLORS.size]}"/>)
      svg << %(<text x="#{legend_x + 16}" y="#{TOP + 9}">#{escape(name)}</text>)
      legend_x += 30 + (name.size * 7)
    end
    items.each_with_index do |(label, speedups), i|
      y = top + (i * group)
      svg << %(<text x="#{LABEL_WIDTH - 8}" y="#{y + (series.size * bar / 2.0) + 4}" text-anchor="end">#{escape(label)}</text>)
      speedups.each_with_index do |value, s|
        next if value.nil?

        by = y + (s * bar)
        svg << %(<rect x="#{LABEL_WIDTH}" y="#{by}" width="#{format('%.1f', [x.call(value) - LABEL_WIDTH, 1].max)}" height="#{bar - 1}" fill="#{COLORS[s % COLORS.size]}"/>)
        svg << %(<text x="#{format('%.1f', x.call(value) + 4)}" y="#{by + bar - 2}" font-size="10">#{format('%.2f', value)}x</text>)
      end
    end
    one = x.call(1.0)
    bottom = top + (items.size * group)
    svg << %(<line x1="#{format('%.1f', one)}" y1="#{top - 6}" x2="#{format('%.1f', one)}" y2="#{bottom}" stroke="black" stroke-dasharray="4 3"/>)
    svg << %(<text x="#{format('%.1f', one)}" y="#{bottom + 16}" text-anchor="middle">1x = baseline</text>)
    svg << "</svg>"
    svg.join("\n") + "\n"
  end
end
