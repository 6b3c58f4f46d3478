// The engine's findings about a circuit or a job: severity, the sentence, the numbers
// behind it and what to do about it, worst first.
import { fmtNum, numberLabel } from '../ai'
import type { Finding } from '../api/types'

const ORDER = { error: 0, warning: 1, info: 2 }

export function Findings({ findings }: { findings: Finding[] }) {
  const sorted = [...findings].sort((x, y) => (ORDER[x.severity] ?? 3) - (ORDER[y.severity] ?? 3))
  return (
    <ul className="findings" aria-label="Findings">
      {sorted.map((f, i) => (
        <li key={`${f.code}-${i}`} className={`finding sev-${f.severity}`} data-testid="finding" data-severity={f.severity}>
          <div className="row">
            <span className={`badge sev-${f.severity}`}>{f.severity}</span>
            <span className="grow">{f.message}</span>
            {f.code && <code className="muted">{f.code}</code>}
          </div>
          {f.numbers && Object.keys(f.numbers).length > 0 && (
            <dl className="numbers">
              {Object.entries(f.numbers).map(([k, v]) => (
                <div key={k}>
                  <dt>{numberLabel(k)}</dt>
                  <dd>{fmtNum(v)}</dd>
                </div>
              ))}
            </dl>
          )}
          {f.suggestion && <p className="suggestion"><strong>Suggestion:</strong> {f.suggestion}</p>}
        </li>
      ))}
    </ul>
  )
}
