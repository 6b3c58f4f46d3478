import { useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router-dom'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { useWorkspace } from './WorkspaceLayout'
import { ActivityFeed } from '../components/ActivityFeed'
import { errorText } from './Auth'

const TEMPLATES: Record<string, string | undefined> = {
  empty: 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n',
  bell: 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n',
  ghz: 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nmeasure q -> c;\n',
}

export function WorkspaceHome() {
  const { api } = useApp()
  const { workspace, feed, canEdit } = useWorkspace()
  const qc = useQueryClient()
  const nav = useNavigate()
  const docs = useQuery({ queryKey: ['docs', workspace.id], queryFn: () => api.docs(workspace.id) })
  const [name, setName] = useState('')
  const [template, setTemplate] = useState('empty')
  const create = useMutation({
    mutationFn: () => api.createDoc(workspace.id, name.trim(), TEMPLATES[template]),
    onSuccess: (d) => {
      qc.invalidateQueries({ queryKey: ['docs', workspace.id] })
      nav(`/w/${workspace.id}/d/${d.id}`)
    },
  })
  function submit(e: FormEvent) {
    e.preventDefault()
    if (name.trim()) create.mutate()
  }
  return (
    <div className="page two-col">
      <section aria-labelledby="docs-title">
        <h1 id="docs-title">Circuits</h1>
        {canEdit ? (
          <form className="row" onSubmit={submit} aria-label="Create a circuit">
            <input aria-label="Circuit name" placeholder="New circuit name" value={name} onChange={(e) => setName(e.target.value)} className="grow" />
            <label>
              <span className="sr-only">Start from</span>
              <select value={template} onChange={(e) => setTemplate(e.target.value)} aria-label="Start from">
                <option value="empty">Empty (2 qubits)</option>
                <option value="bell">Bell pair</option>
                <option value="ghz">GHZ (3 qubits)</option>
              </select>
            </label>
            <button type="submit" className="primary" disabled={!name.trim() || create.isPending}>Create circuit</button>
          </form>
        ) : (
          <p className="muted">You are a viewer in this workspace: you can open and watch circuits, not change them.</p>
        )}
        {create.error && <p className="error" role="alert">{errorText(create.error)}</p>}
        {docs.isLoading && <p role="status">Loading…</p>}
        <ul className="list">
          {docs.data?.map((d) => (
            <li key={d.id}>
              <Link to={`/w/${workspace.id}/d/${d.id}`}>{d.name}</Link>
              <span className="muted"> · updated {new Date(d.updated_at).toLocaleString()}</span>
            </li>
          ))}
          {docs.data?.length === 0 && <li className="muted">No circuits yet.</li>}
        </ul>
      </section>
      <section aria-labelledby="activity-title">
        <h2 id="activity-title">Activity</h2>
        <ActivityFeed feed={feed} ws={workspace.id} />
      </section>
    </div>
  )
}
