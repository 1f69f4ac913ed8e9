# frozen_string_literal: true

# A horizontal bar chart as SVG text, drawn without dependencies: one bar per
# measure, its length the speed relative to the baseline on a log scale, a
# line at 1x ("as fast as raw C").
module SvgChart
  module_function

  WIDTH = 900
  LABEL_WIDTH = 420
  BAR_HEIGHT = 22
  GAP = 8
  TOP = 56

  def escape(text) = text.to_s.gsub("&", "&amp;").gsub("<", "&lt;").gsub(">", "&gt;")

  # items: [[label, speed-up]], speed-up > 1 meaning Tether is faster.
  def bars(title, items, subtitle: "")
    low = [0.5, items.map(&:last).min * 0.8].min
    high = [2.0, items.map(&:last).max * 1.25].max
    plot = WIDTH - LABEL_WIDTH - 80
    x = ->(v) { LABEL_WIDTH + (Math.log10(v / low) / Math.log10(high / low) * plot) }
    height = TOP + (items.size * (BAR_HEIGHT + GAP)) + 40
    svg = []
    svg << %(<svg xmlns="http://www.w3.org/2000/svg" width="#{WIDTH}" height="#{height}" font-family="sans-serif" font-size="13">)
    svg << %(<rect width="100%" height="100%" fill="white"/>)
    svg << %(<text x="10" y="22" font-size="16" font-weight="bold">#{escape(title)}</text>)
    svg << %(<text x="10" y="42" fill="#555">#{escape(subtitle)}</text>)
    items.each_with_index do |(label, value), i|
      y = TOP + (i * (BAR_HEIGHT + GAP))
      color = value >= 0.95 ? "#2a7ab0" : "#c0504d"
      svg << %(<text x="#{LABEL_WIDTH - 8}" y="#{y + 16}" text-anchor="end">#{escape(label)}</text>)
      svg << %(<rect x="#{LABEL_WIDTH}" y="#{y}" width="#{format('%.1f', [x.call(value) - LABEL_WIDTH, 1].max)}" height="#{BAR_HEIGHT}" fill="#{color}"/>)
      svg << %(<text x="#{format('%.1f', x.call(value) + 6)}" y="#{y + 16}">#{format('%.2f', value)}x</text>)
    end
    one = x.call(1.0)
    bottom = TOP + (items.size * (BAR_HEIGHT + GAP))
    svg << %(<line x1="#{format('%.1f', one)}" y1="#{TOP - 6}" x2="#{format('%.1f', one)}" y2="#{bottom}" stroke="black" stroke-dasharray="4 3"/>)
    svg << %(<text x="#{format('%.1f', one)}" y="#{bottom + 16}" text-anchor="middle">1x = baseline</text>)
    svg << "</svg>"
    svg.join("\n") + "\n"
  end
end
