// The circuit composer: qubit wires, a gate palette, drag-and-drop placement and moves,
// parameters edited in place, keyboard operation, and everyone's cursor and selection.
import { memo, useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent as RKeyboardEvent, type PointerEvent as RPointerEvent } from 'react'
import type * as Y from 'yjs'
import { GATES, gateLabel, gateSpec, type GateSpec } from './gates'
import { addOp, deleteOp, findIndex, insertionIndex, moveOp, setField, setParam, setQubits, type CircuitView, type OpView } from './binding'
import type { PeerState } from './live'

export const X0 = 72
export const Y0 = 24
export const CW = 52
export const RH = 52
const BOX = 36

const cx = (col: number) => X0 + col * CW + CW / 2
const cy = (q: number) => Y0 + q * RH + RH / 2

type Drag =
  | { kind: 'new'; gate: string; x0: number; y0: number; moved: boolean }
  | { kind: 'move'; id: string; grabQ: number; x0: number; y0: number; moved: boolean }

interface Cell { q: number; col: number }

function span(op: OpView, n: number): [number, number] {
  if (op.gate === 'barrier' && op.qubits.length === 0) return [0, Math.max(0, n - 1)]
  if (!op.qubits.length) return [0, 0]
  return [Math.min(...op.qubits), Math.max(...op.qubits)]
}

/** Qubits a fresh `gate` dropped on wire `q` acts on. */
export function placementQubits(spec: GateSpec, q: number, n: number): number[] {
  if (spec.name === 'barrier') return [...Array(Math.max(n, 1)).keys()]
  const k = Math.max(1, spec.qubits)
  let start = q
  if (start + k > n && n >= k) start = n - k
  return [...Array(k).keys()].map((i) => start + i)
}

/** A gate drawn around x = 0; its column is the parent's translate, so a gate pushed to
 * another column costs one attribute change, not a re-render of its shapes. */
const GateBody = memo(
  function GateBody({ op, n, selected, onDown, onDouble }: {
    op: OpView
    n: number
    selected: boolean
    onDown: (e: RPointerEvent, op: OpView) => void
    onDouble: (op: OpView) => void
  }) {
    const x = 0
    const [lo, hi] = span(op, n)
    const cls = `gate g-${op.gate}${selected ? ' selected' : ''}${op.problem ? ' problem' : ''}`
    const common = {
      className: cls,
      'data-op-id': op.id,
      'data-gate': op.gate,
      onPointerDown: (e: RPointerEvent) => onDown(e, op),
      onDoubleClick: () => onDouble(op),
    }
    const title = <title>{`${op.gate}${op.params.length ? `(${op.params.join(', ')})` : ''} on q${op.qubits.join(', q')}${op.problem ? ` — problem: ${op.problem}` : ''}`}</title>
    const q0 = op.qubits[0] ?? 0
    const dot = (q: number) => <circle key={`d${q}`} cx={x} cy={cy(q)} r={6} className="ctrl" />
    const plus = (q: number) => (
      <g key={`t${q}`} className="target">
        <circle cx={x} cy={cy(q)} r={13} />
        <line x1={x - 13} y1={cy(q)} x2={x + 13} y2={cy(q)} />
        <line x1={x} y1={cy(q) - 13} x2={x} y2={cy(q) + 13} />
      </g>
    )
    const cross = (q: number) => (
      <g key={`s${q}`} className="swapx">
        <line x1={x - 8} y1={cy(q) - 8} x2={x + 8} y2={cy(q) + 8} />
        <line x1={x - 8} y1={cy(q) + 8} x2={x + 8} y2={cy(q) - 8} />
      </g>
    )
    const hit = <rect className="hit" x={x - CW / 2 + 2} y={cy(lo) - RH / 2 + 2} width={CW - 4} height={(hi - lo + 1) * RH - 4} rx={6} />
    const spine = hi > lo ? <line className="spine" x1={x} y1={cy(lo)} x2={x} y2={cy(hi)} /> : null
    if (op.gate === 'cx' || op.gate === 'ccx' || op.gate === 'cz' || op.gate === 'swap') {
      const qs = op.qubits
      const last = qs.length - 1
      return (
        <g {...common}>
          {title}
          {hit}
          {spine}
          {qs.map((q, i) => {
            if (op.gate === 'swap') return cross(q)
            if (op.gate === 'cz') return dot(q)
            return i === last ? plus(q) : dot(q)
          })}
        </g>
      )
    }
    if (op.gate === 'barrier') {
      return (
        <g {...common}>
          {title}
          {hit}
          <line className="barrier" x1={x} y1={cy(lo) - RH / 2 + 4} x2={x} y2={cy(hi) + RH / 2 - 4} />
        </g>
      )
    }
    const label = gateLabel(op.gate)
    const p = op.params.length ? op.params.join(',') : ''
    const h = (hi - lo) * RH + BOX
    return (
      <g {...common}>
        {title}
        {hit}
        <rect className="box" x={x - BOX / 2 - 4} y={cy(lo) - BOX / 2} width={BOX + 8} height={h} rx={5} />
        <text x={x} y={cy((lo + hi) / 2) + (p || op.gate === 'measure' ? -2 : 5)} textAnchor="middle" className="label">{label}</text>
        {p && (
          <text x={x} y={cy((lo + hi) / 2) + 12} textAnchor="middle" className="param">{p.length > 8 ? `${p.slice(0, 7)}…` : p}</text>
        )}
        {op.gate === 'measure' && q0 >= 0 && <text x={x} y={cy(q0) + 12} textAnchor="middle" className="param">{`c${op.clbits[0] ?? ''}`}</text>}
      </g>
    )
  },
  (a, b) =>
    a.selected === b.selected && a.n === b.n && a.onDown === b.onDown && a.onDouble === b.onDouble &&
    a.op.id === b.op.id && a.op.gate === b.op.gate && a.op.problem === b.op.problem &&
    a.op.qubits.join() === b.op.qubits.join() && a.op.params.join() === b.op.params.join() && a.op.clbits.join() === b.op.clbits.join(),
)

type GlyphProps = {
  op: OpView
  n: number
  selected: boolean
  onDown: (e: RPointerEvent, op: OpView) => void
  onDouble: (op: OpView) => void
}

/** Same drawing: the op's position in the order (`index`) does not show. */
function sameGlyph(a: GlyphProps, b: GlyphProps) {
  if (a.selected !== b.selected || a.n !== b.n || a.onDown !== b.onDown || a.onDouble !== b.onDouble) return false
  if (a.op === b.op) return true
  const x = a.op
  const y = b.op
  return x.id === y.id && x.col === y.col && x.gate === y.gate && x.problem === y.problem &&
    x.qubits.join() === y.qubits.join() && x.params.join() === y.params.join() && x.clbits.join() === y.clbits.join()
}

const GateGlyph = memo(function GateGlyph(props: GlyphProps) {
  return (
    <g transform={`translate(${cx(props.op.col)} 0)`}>
      <GateBody {...props} />
    </g>
  )
}, sameGlyph)

/** The gates of the visible columns and rows only (plus a margin): a 2,000-gate circuit
 * draws what fits on screen, not 2,000 groups of shapes. */
const Gates = memo(function Gates({ view, selected, onDown, onDouble, c0, c1, r0, r1 }: {
  view: CircuitView
  selected: string | null
  onDown: (e: RPointerEvent, op: OpView) => void
  onDouble: (op: OpView) => void
  c0: number
  c1: number
  r0: number
  r1: number
}) {
  const n = view.qubits
  return (
    <g className="gates">
      {view.ops.filter((op) => {
        if (op.col < c0 || op.col > c1) return false
        const [lo, hi] = span(op, n)
        return hi >= r0 && lo <= r1
      }).map((op) => (
        <GateGlyph key={op.id} op={op} n={view.qubits} selected={op.id === selected} onDown={onDown} onDouble={onDouble} />
      ))}
    </g>
  )
})

export interface ComposerProps {
  ydoc: Y.Doc
  view: CircuitView
  readOnly: boolean
  peers: PeerState[]
  /** The view as of now (a gate placed a moment ago is there before React renders it). */
  readView: () => CircuitView
  undo: Y.UndoManager
  setLocal: (patch: Partial<Pick<PeerState, 'cursor' | 'selection'>>) => void
}

export function Composer({ ydoc, view, readView, readOnly, peers, undo, setLocal }: ComposerProps) {
  const svgRef = useRef<SVGSVGElement>(null)
  const wrapRef = useRef<HTMLDivElement>(null)
  const [cursor, setCursor] = useState<Cell>({ q: 0, col: 0 })
  const [selected, setSelected] = useState<string | null>(null)
  const [ghost, setGhost] = useState<(Cell & { gate: string }) | null>(null)
  const [editing, setEditing] = useState<string | null>(null)
  const [announce, setAnnounce] = useState('')
  const drag = useRef<Drag | null>(null)
  const n = view.qubits
  const cols = view.columns + 3
  const width = X0 + cols * CW + 16
  const height = Y0 + Math.max(n, 1) * RH + 44
  const byId = useMemo(() => new Map(view.ops.map((o) => [o.id, o])), [view])
  // The window that is drawn (the scrolled part of the canvas), in pixels.
  const [win, setWin] = useState({ left: 0, width: 1600, top: 0, height: 1200 })
  useEffect(() => {
    const el = wrapRef.current
    if (!el) return
    let frame = 0
    const read = () => {
      frame = 0
      const next = { left: el.scrollLeft, width: el.clientWidth || 1600, top: el.scrollTop, height: el.clientHeight || 1200 }
      setWin((w) => (w.left === next.left && w.width === next.width && w.top === next.top && w.height === next.height ? w : next))
    }
    const onScroll = () => {
      if (!frame) frame = requestAnimationFrame(read)
    }
    el.addEventListener('scroll', onScroll, { passive: true })
    const ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(onScroll) : null
    ro?.observe(el)
    read()
    return () => {
      el.removeEventListener('scroll', onScroll)
      ro?.disconnect()
      if (frame) cancelAnimationFrame(frame)
    }
  }, [])
  const c0 = Math.max(0, Math.floor((win.left - X0) / CW) - 3)
  const c1 = Math.ceil((win.left + win.width - X0) / CW) + 3
  const r0 = Math.max(0, Math.floor((win.top - Y0) / RH) - 1)
  const r1 = Math.ceil((win.top + win.height - Y0) / RH) + 1
  // Keep the keyboard cursor on screen.
  useEffect(() => {
    const el = wrapRef.current
    if (!el) return
    const x = X0 + cursor.col * CW
    if (x < el.scrollLeft + X0) el.scrollLeft = Math.max(0, x - X0 - CW)
    else if (x + CW > el.scrollLeft + el.clientWidth) el.scrollLeft = x + 2 * CW - el.clientWidth
    const y = Y0 + cursor.q * RH
    if (y < el.scrollTop) el.scrollTop = Math.max(0, y - Y0)
    else if (y + RH > el.scrollTop + el.clientHeight) el.scrollTop = y + RH + Y0 - el.clientHeight
  }, [cursor])
  const sel = selected ? byId.get(selected) ?? null : null

  useEffect(() => setLocal({ cursor, selection: selected }), [cursor, selected, setLocal])
  useEffect(() => {
    // Not byId: a gate placed a moment ago is in the doc before it is in the view. A peer
    // deleted the selected gate: the selection follows the shared document (an external
    // store), which render cannot read cheaply.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    if (selected && findIndex(ydoc, selected) < 0) setSelected(null)
  }, [view, ydoc, selected])

  const cellAt = useCallback((clientX: number, clientY: number): Cell | null => {
    const svg = svgRef.current
    if (!svg) return null
    const r = svg.getBoundingClientRect()
    const x = clientX - r.left
    const y = clientY - r.top
    if (x < X0 - 8 || y < Y0 - 8 || x > r.width || y > Y0 + Math.max(n, 1) * RH + 8) return null
    return {
      q: Math.max(0, Math.min(Math.max(n - 1, 0), Math.floor((y - Y0) / RH))),
      col: Math.max(0, Math.floor((x - X0) / CW)),
    }
  }, [n])

  const opAt = useCallback((c: Cell) => view.ops.find((o) => {
    const [lo, hi] = span(o, n)
    return o.col === c.col && c.q >= lo && c.q <= hi
  }), [view, n])

  const place = useCallback((gate: string, c: Cell) => {
    if (readOnly) return
    const spec = gateSpec(gate)
    if (!spec) return
    const qubits = placementQubits(spec, c.q, Math.max(n, 1))
    const at = insertionIndex(view, c.col, qubits)
    const id = addOp(ydoc, { gate, qubits, params: spec.defaults ?? [] }, at)
    setSelected(id)
    // The next gate goes after this one.
    const placed = readView().ops.find((o) => o.id === id)
    if (placed) setCursor({ q: c.q, col: placed.col + 1 })
    setAnnounce(`${spec.title} placed on qubit${qubits.length > 1 ? 's' : ''} ${qubits.join(', ')}`)
  }, [readOnly, n, view, ydoc, readView])

  const move = useCallback((id: string, dq: number, c: Cell) => {
    const op = byId.get(id)
    if (!op || readOnly) return
    const qubits = op.qubits.map((q) => q + dq)
    if (qubits.some((q) => q < 0 || q >= n)) {
      setAnnounce('Cannot move there: outside the circuit')
      return
    }
    if (dq === 0 && c.col === op.col) return
    const rest: CircuitView = { ...view, ops: view.ops.filter((o) => o.id !== id) }
    const idx = insertionIndex(rest, c.col, qubits)
    const before = rest.ops.find((o) => o.index === idx)
    moveOp(ydoc, id, qubits, before ? before.id : null)
    setAnnounce(`Moved ${op.gate} to qubit${qubits.length > 1 ? 's' : ''} ${qubits.join(', ')}`)
  }, [byId, readOnly, n, view, ydoc])

  // ---- pointer drags (palette → canvas, gate → elsewhere)
  useEffect(() => {
    const onMove = (e: PointerEvent) => {
      const d = drag.current
      if (!d) return
      if (!d.moved && Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < 4) return
      d.moved = true
      const c = cellAt(e.clientX, e.clientY)
      if (!c) {
        setGhost(null)
        return
      }
      const gate = d.kind === 'new' ? d.gate : byId.get(d.id)?.gate ?? '?'
      setGhost((g) => (g && g.q === c.q && g.col === c.col && g.gate === gate ? g : { ...c, gate }))
    }
    const onUp = (e: PointerEvent) => {
      const d = drag.current
      drag.current = null
      setGhost(null)
      if (!d) return
      const c = cellAt(e.clientX, e.clientY)
      if (d.kind === 'new') {
        if (!d.moved) place(d.gate, cursor)
        else if (c) place(d.gate, c)
      } else if (d.moved && c) {
        move(d.id, c.q - d.grabQ, c)
      }
    }
    window.addEventListener('pointermove', onMove)
    window.addEventListener('pointerup', onUp)
    return () => {
      window.removeEventListener('pointermove', onMove)
      window.removeEventListener('pointerup', onUp)
    }
  }, [cellAt, byId, place, move, cursor])

  const onGateDown = useCallback((e: RPointerEvent, op: OpView) => {
    e.stopPropagation()
    e.preventDefault()
    svgRef.current?.focus()
    setSelected(op.id)
    const c = cellAt(e.clientX, e.clientY)
    if (c) setCursor(c)
    if (!readOnly) drag.current = { kind: 'move', id: op.id, grabQ: c?.q ?? op.qubits[0] ?? 0, x0: e.clientX, y0: e.clientY, moved: false }
  }, [cellAt, readOnly])

  const onGateDouble = useCallback((op: OpView) => {
    if (!readOnly && (gateSpec(op.gate)?.params ?? 0) > 0) setEditing(op.id)
  }, [readOnly])

  const onCanvasDown = (e: RPointerEvent) => {
    const c = cellAt(e.clientX, e.clientY)
    if (c) {
      setCursor(c)
      setSelected(opAt(c)?.id ?? null)
    }
  }

  const onKey = (e: RKeyboardEvent) => {
    const mod = e.ctrlKey || e.metaKey
    if (mod && e.key.toLowerCase() === 'z') {
      e.preventDefault()
      if (e.shiftKey) undo.redo()
      else undo.undo()
      return
    }
    if (mod && e.key.toLowerCase() === 'y') {
      e.preventDefault()
      undo.redo()
      return
    }
    if (mod || e.altKey) return
    const arrows: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }
    const a = arrows[e.key]
    if (a) {
      e.preventDefault()
      if (e.shiftKey && sel && !readOnly) {
        const c = { q: cursor.q + a[0], col: Math.max(0, (a[1] > 0 ? sel.col + 1 : sel.col - 1)) }
        if (a[0] !== 0) move(sel.id, a[0], { q: c.q, col: sel.col })
        else move(sel.id, 0, { q: cursor.q, col: a[1] > 0 ? sel.col + 2 : Math.max(0, sel.col - 1) })
        setCursor({ q: Math.max(0, Math.min(n - 1, c.q)), col: c.col })
        return
      }
      const c = { q: Math.max(0, Math.min(Math.max(n - 1, 0), cursor.q + a[0])), col: Math.max(0, Math.min(cols - 1, cursor.col + a[1])) }
      setCursor(c)
      const o = opAt(c)
      setSelected(o?.id ?? null)
      setAnnounce(o ? `${o.gate}${o.params.length ? `(${o.params.join(', ')})` : ''} on qubits ${o.qubits.join(', ')}` : `qubit ${c.q}, column ${c.col + 1}: empty`)
      return
    }
    if ((e.key === 'Delete' || e.key === 'Backspace') && sel && !readOnly) {
      e.preventDefault()
      deleteOp(ydoc, sel.id)
      setAnnounce(`Deleted ${sel.gate}`)
      setSelected(null)
      return
    }
    if (e.key === 'Escape') {
      setSelected(null)
      setEditing(null)
      return
    }
    if (e.key === 'Enter' && sel && !readOnly) {
      e.preventDefault()
      if ((gateSpec(sel.gate)?.params ?? 0) > 0) setEditing(sel.id)
      return
    }
    const letter: Record<string, string> = { h: 'h', x: 'x', y: 'y', z: 'z', s: 's', t: 't', m: 'measure' }
    const g = letter[e.key]
    if (g && !readOnly) {
      e.preventDefault()
      place(g, cursor)
    }
  }

  const others = peers.filter((p) => !p.self)
  const edited = editing ? byId.get(editing) : undefined

  return (
    <div className="composer">
      <div className="palette" role="toolbar" aria-label="Gate palette: click to place at the cursor, or drag onto a wire">
        {GATES.map((g) => (
          <button
            key={g.name}
            type="button"
            className={`pal pal-${g.group}`}
            data-gate={g.name}
            title={`${g.title}${g.params ? ` (${g.params} parameter${g.params > 1 ? 's' : ''})` : ''}`}
            aria-label={`${g.label}: add ${g.title}`}
            disabled={readOnly}
            onPointerDown={(e) => {
              if (readOnly || e.button !== 0) return
              drag.current = { kind: 'new', gate: g.name, x0: e.clientX, y0: e.clientY, moved: false }
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault()
                place(g.name, cursor)
              }
            }}
          >
            {g.label}
          </button>
        ))}
        <span className="pal-sep" aria-hidden="true" />
        <button type="button" className="small" disabled={readOnly} onClick={() => setQubits(ydoc, n + 1)} aria-label="Add a qubit">+ qubit</button>
        <button
          type="button"
          className="small"
          disabled={readOnly || n === 0 || view.ops.some((o) => o.qubits.includes(n - 1))}
          onClick={() => setQubits(ydoc, n - 1)}
          aria-label="Remove the last qubit"
          title="Remove the last qubit (only when it is empty)"
        >
          − qubit
        </button>
      </div>
      <div className="canvas-wrap" ref={wrapRef}>
        <svg
          ref={svgRef}
          className="canvas"
          data-testid="composer"
          data-ops={view.ops.length}
          width={width}
          height={height}
          tabIndex={0}
          role="application"
          aria-roledescription="circuit editor"
          aria-label={`Circuit with ${n} qubits and ${view.ops.length} operations. Arrow keys move the cursor; H X Y Z S T M place gates; Delete removes; Shift+arrows move the selected gate; Enter edits parameters; Ctrl+Z undoes.`}
          onKeyDown={onKey}
          onPointerDown={onCanvasDown}
        >
          {[...Array(n).keys()].map((q) => (
            <g key={q} className="wire">
              <text x={8} y={cy(q) + 5} className="wire-label">q{q}</text>
              <line x1={X0 - 8} y1={cy(q)} x2={width - 8} y2={cy(q)} />
            </g>
          ))}
          {view.clbits > 0 && (
            <g className="cwire">
              <text x={8} y={Y0 + n * RH + 24} className="wire-label">{`c/${view.clbits}`}</text>
              <line x1={X0 - 8} y1={Y0 + n * RH + 18} x2={width - 8} y2={Y0 + n * RH + 18} />
              <line x1={X0 - 8} y1={Y0 + n * RH + 22} x2={width - 8} y2={Y0 + n * RH + 22} />
            </g>
          )}
          <rect className="cursor" x={X0 + cursor.col * CW + 2} y={Y0 + cursor.q * RH + 2} width={CW - 4} height={RH - 4} rx={6} />
          <Gates view={view} selected={selected} onDown={onGateDown} onDouble={onGateDouble} c0={c0} c1={c1} r0={r0} r1={r1} />
          {others.map((p) => {
            const o = p.selection ? byId.get(p.selection) : undefined
            const [lo, hi] = o ? span(o, n) : [0, 0]
            return (
              <g key={p.clientId} className="peer" style={{ color: p.user.color }}>
                {o && <rect className="peer-sel" x={X0 + o.col * CW} y={Y0 + lo * RH} width={CW} height={(hi - lo + 1) * RH} rx={7} />}
                {p.cursor && p.cursor.q < Math.max(n, 1) && (
                  <>
                    <rect className="peer-cursor" x={X0 + p.cursor.col * CW + 3} y={Y0 + p.cursor.q * RH + 3} width={CW - 6} height={RH - 6} rx={6} />
                    <text className="peer-name" x={X0 + p.cursor.col * CW + 4} y={Y0 + p.cursor.q * RH + 1}>{p.user.name}</text>
                  </>
                )}
              </g>
            )
          })}
          {ghost && (
            <g className="ghost" pointerEvents="none">
              <rect x={X0 + ghost.col * CW + 4} y={Y0 + ghost.q * RH + 4} width={CW - 8} height={RH - 8} rx={6} />
              <text x={cx(ghost.col)} y={cy(ghost.q) + 5} textAnchor="middle">{gateLabel(ghost.gate)}</text>
            </g>
          )}
        </svg>
        {edited && (
          <ParamEditor
            op={edited}
            onDone={(params) => {
              params.forEach((p, i) => {
                if (p !== edited.params[i]) setParam(ydoc, edited.id, i, p)
              })
              setEditing(null)
              svgRef.current?.focus()
            }}
            onCancel={() => {
              setEditing(null)
              svgRef.current?.focus()
            }}
          />
        )}
        <p className="sr-only" aria-live="polite">{announce}</p>
      </div>
      <Inspector op={sel} n={n} clbits={view.clbits} readOnly={readOnly} ydoc={ydoc} onDelete={() => setSelected(null)} onEdit={(id) => setEditing(id)} />
    </div>
  )
}

function ParamEditor({ op, onDone, onCancel }: { op: OpView; onDone: (p: string[]) => void; onCancel: () => void }) {
  const k = gateSpec(op.gate)?.params ?? op.params.length
  const [vals, setVals] = useState(() => [...Array(k).keys()].map((i) => op.params[i] ?? '0'))
  const first = useRef<HTMLInputElement>(null)
  useEffect(() => first.current?.select(), [])
  const [lo] = span(op, 1000)
  return (
    <form
      className="param-editor"
      style={{ left: cx(op.col) - 20, top: Y0 + lo * RH + RH - 6 }}
      onSubmit={(e) => {
        e.preventDefault()
        onDone(vals)
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.stopPropagation()
          onCancel()
        }
      }}
      aria-label={`Parameters of ${op.gate}`}
    >
      {vals.map((v, i) => (
        <label key={i}>
          <span className="sr-only">{`Parameter ${i + 1}`}</span>
          <input ref={i === 0 ? first : undefined} value={v} size={8} onChange={(e) => setVals(vals.map((x, j) => (j === i ? e.target.value : x)))} aria-label={`${op.gate} parameter ${i + 1}`} />
        </label>
      ))}
      <button type="submit" className="primary small">Set</button>
    </form>
  )
}

function Inspector({ op, n, clbits, readOnly, ydoc, onDelete, onEdit }: {
  op: OpView | null
  n: number
  clbits: number
  readOnly: boolean
  ydoc: Y.Doc
  onDelete: () => void
  onEdit: (id: string) => void
}) {
  if (!op) return <div className="inspector muted">Select a gate to see and change its qubits and parameters.</div>
  const spec = gateSpec(op.gate)
  return (
    <div className="inspector" role="group" aria-label="Selected gate">
      <strong>{spec?.title ?? op.gate}</strong>
      {op.qubits.map((q, i) => (
        <label key={i}>
          {op.qubits.length > 1 ? (op.gate === 'swap' || op.gate === 'cz' || op.gate === 'barrier' ? `qubit ${i + 1}` : i === op.qubits.length - 1 ? 'target' : `control ${i + 1}`) : 'qubit'}
          <select
            value={q}
            disabled={readOnly}
            onChange={(e) => {
              const qs = [...op.qubits]
              qs[i] = Number(e.target.value)
              setField(ydoc, op.id, 'qubits', qs)
            }}
          >
            {[...Array(Math.max(n, q + 1)).keys()].map((k) => <option key={k} value={k}>q{k}</option>)}
          </select>
        </label>
      ))}
      {op.gate === 'measure' && (
        <label>
          into
          <select
            value={op.clbits[0] ?? 0}
            disabled={readOnly}
            onChange={(e) => setField(ydoc, op.id, 'clbits', [Number(e.target.value)])}
          >
            {[...Array(Math.max(clbits, (op.clbits[0] ?? 0) + 1)).keys()].map((k) => <option key={k} value={k}>c{k}</option>)}
          </select>
        </label>
      )}
      {(spec?.params ?? 0) > 0 && (
        <>
          <span className="muted">({op.params.join(', ')})</span>
          <button type="button" className="small" disabled={readOnly} onClick={() => onEdit(op.id)}>Edit parameters</button>
        </>
      )}
      {op.problem && <span className="error">{op.problem}</span>}
      <button
        type="button"
        className="danger small"
        disabled={readOnly}
        onClick={() => {
          deleteOp(ydoc, op.id)
          onDelete()
        }}
      >
        Delete
      </button>
    </div>
  )
}
