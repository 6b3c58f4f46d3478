// Counts as an accessible SVG bar chart (a table for screen readers): no chart library,
// a few hundred bytes instead of a charting bundle.
export function Histogram({ counts, shots }: { counts: Record<string, number>; shots?: number }) {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))
  const shown = entries.length > 64 ? [...entries].sort((a, b) => b[1] - a[1]).slice(0, 64).sort(([a], [b]) => a.localeCompare(b)) : entries
  const total = shots ?? entries.reduce((s, [, v]) => s + v, 0)
  const max = Math.max(1, ...shown.map(([, v]) => v))
  const barW = Math.max(14, Math.min(48, Math.floor(560 / Math.max(1, shown.length))))
  const h = 160
  const w = shown.length * (barW + 6) + 40
  return (
    <figure className="histogram" data-testid="histogram">
      <svg width={w} height={h + 48} role="img" aria-label={`Counts histogram: ${shown.map(([k, v]) => `${k} ${v}`).join(', ')}`}>
        <line x1={30} y1={h + 4} x2={w} y2={h + 4} className="axis" />
        {shown.map(([k, v], i) => {
          const bh = Math.round((v / max) * (h - 10))
          const x = 34 + i * (barW + 6)
          return (
            <g key={k} data-outcome={k} data-count={v}>
              <rect x={x} y={h + 4 - bh} width={barW} height={bh} className="bar" rx={2}>
                <title>{`${k}: ${v} (${((v / total) * 100).toFixed(1)}%)`}</title>
              </rect>
              <text x={x + barW / 2} y={h - bh} textAnchor="middle" className="bar-value">{v}</text>
              <text x={x + barW / 2} y={h + 20} textAnchor="middle" className="bar-label" transform={shown.length > 12 ? `rotate(60 ${x + barW / 2} ${h + 20})` : undefined}>{k}</text>
            </g>
          )
        })}
      </svg>
      <figcaption className="muted">
        {entries.length} outcome{entries.length === 1 ? '' : 's'} over {total} shots{entries.length > shown.length ? ` (64 most frequent shown)` : ''}
      </figcaption>
    </figure>
  )
}
