// Points, levels and achievements: the workspace, organization and global leaderboards
// (week / month / all time) and your own progress. Live: achievement and points events
// refresh both. The global board lists only people who chose to appear. Streaks count
// days in the person's own time zone, shown (and changed) under the streak.
import { useState } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { useWorkspace } from './WorkspaceLayout'
import { errorText } from './Auth'
import { TimeZoneSetting } from '../components/TimeZoneSetting'

type Window = 'week' | 'month' | 'all'
type Scope = 'workspace' | 'org' | 'global'
const SCOPES: { s: Scope; label: string }[] = [
  { s: 'workspace', label: 'This workspace' },
  { s: 'org', label: 'Organization' },
  { s: 'global', label: 'Everyone' },
]
const WINDOWS: { w: Window; label: string }[] = [
  { w: 'week', label: 'This week' },
  { w: 'month', label: 'This month' },
  { w: 'all', label: 'All time' },
]

export default function ProgressScreen() {
  const { api, session } = useApp()
  const { workspace } = useWorkspace()
  const qc = useQueryClient()
  const [win, setWin] = useState<Window>('week')
  const [scope, setScope] = useState<Scope>('workspace')
  const board = useQuery({
    queryKey: ['progress', 'board', scope, scope === 'global' ? '' : scope === 'org' ? workspace.org_id : workspace.id, win],
    queryFn: () =>
      scope === 'workspace' ? api.leaderboard(workspace.id, win) : scope === 'org' ? api.orgLeaderboard(workspace.org_id, win) : api.globalLeaderboard(win),
  })
  const account = useQuery({ queryKey: ['me'], queryFn: () => api.me(), enabled: scope === 'global' })
  // The box shows the choice at once (React state, set in the click itself) until the
  // server answers; then the account as stored, which is the old value if it refused.
  const [wantPublic, setWantPublic] = useState<boolean | null>(null)
  const visibility = useMutation({
    mutationFn: (on: boolean) => api.updateMe({ leaderboard_public: on }),
    onSuccess: (me) => {
      qc.setQueryData(['me'], me)
      void qc.invalidateQueries({ queryKey: ['progress', 'board', 'global'] })
    },
    onSettled: () => setWantPublic(null),
  })
  const where = scope === 'workspace' ? 'in this workspace' : scope === 'org' ? "in this organization's workspaces" : 'by anyone on the board'
  const me = useQuery({ queryKey: ['progress', 'me'], queryFn: () => api.myProgress() })
  const p = me.data
  const span = p ? Math.max(1, p.next_level_at - p.level_floor) : 1
  const into = p ? Math.min(span, p.points - p.level_floor) : 0
  return (
    <div className="page points-page">
      <h1>Leaderboard</h1>
      <div role="tablist" aria-label="Board" className="row">
        {SCOPES.map(({ s: sc, label }) => (
          <button key={sc} type="button" role="tab" aria-selected={scope === sc} className={scope === sc ? 'primary' : undefined} onClick={() => setScope(sc)}>
            {label}
          </button>
        ))}
      </div>
      {scope === 'global' && (
        <p className="row">
          <label>
            <input
              type="checkbox"
              checked={wantPublic ?? account.data?.user.leaderboard_public ?? false}
              disabled={!account.data}
              onChange={(e) => {
                setWantPublic(e.target.checked)
                visibility.mutate(e.target.checked)
              }}
            />{' '}
            Show me on the global leaderboard
          </label>
          <span className="muted">Only people who choose to appear are listed.</span>
        </p>
      )}
      {visibility.error && <p className="error" role="alert">{errorText(visibility.error)}</p>}
      <div role="tablist" aria-label="Window" className="row">
        {WINDOWS.map(({ w, label }) => (
          <button key={w} type="button" role="tab" aria-selected={win === w} className={win === w ? 'primary' : undefined} onClick={() => setWin(w)}>
            {label}
          </button>
        ))}
      </div>
      {board.error && <p className="error" role="alert">{errorText(board.error)}</p>}
      {board.data && board.data.entries.length === 0 && <p className="muted">No points earned {where} {win === 'all' ? 'yet' : 'in this window'}.</p>}
      {board.data && board.data.entries.length > 0 && (
        <table className="board" aria-label={`${SCOPES.find((x) => x.s === scope)?.label ?? ''} leaderboard`}>
          <thead><tr><th scope="col">#</th><th scope="col">{scope === 'global' ? 'Person' : 'Member'}</th><th scope="col">Points</th></tr></thead>
          <tbody>
            {board.data.entries.map((e) => (
              <tr key={e.user_id} className={e.user_id === session?.user.id ? 'me' : undefined}>
                <td>{e.rank}</td><td>{e.name}{e.user_id === session?.user.id ? ' (you)' : ''}</td><td>{e.points}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Your progress</h2>
      {me.error && <p className="error" role="alert">{errorText(me.error)}</p>}
      {p && (
        <>
          <p>
            Level <strong>{p.level}</strong> · <strong>{p.points}</strong> points · streak {p.streak_days} day(s) (best {p.best_streak_days})
          </p>
          <div className="level-bar" role="progressbar" aria-label={`Level ${p.level + 1}`} aria-valuemin={0} aria-valuemax={span} aria-valuenow={into}>
            <span style={{ width: `${(100 * into) / span}%` }} />
          </div>
          <p className="muted">{p.next_level_at - p.points} points to level {p.level + 1}</p>
          <TimeZoneSetting />
          <ul className="achievements" aria-label="Achievements">
            {p.achievements.map((a) => (
              <li key={a.key} className={a.unlocked_at ? 'unlocked' : 'locked'}>
                <strong>{a.title}</strong> <span className="muted">+{a.points}</span>
                <br />
                <span className="muted">{a.description}</span>
                <br />
                {a.unlocked_at ? <span className="ok">unlocked {new Date(a.unlocked_at).toLocaleDateString()}</span> : <span className="muted">{a.value} / {a.target}</span>}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  )
}
