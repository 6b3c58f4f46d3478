import { useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router-dom'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import { TopBar } from '../components/TopBar'
import { errorText } from './Auth'

export function Home() {
  const { api } = useApp()
  const qc = useQueryClient()
  const nav = useNavigate()
  const list = useQuery({ queryKey: ['workspaces'], queryFn: () => api.workspaces() })
  const [name, setName] = useState('')
  const create = useMutation({
    mutationFn: (n: string) => api.createWorkspace(n),
    onSuccess: (ws) => {
      qc.invalidateQueries({ queryKey: ['workspaces'] })
      nav(`/w/${ws.id}`)
    },
  })
  function submit(e: FormEvent) {
    e.preventDefault()
    if (name.trim()) create.mutate(name.trim())
  }
  return (
    <>
      <TopBar />
      <main className="page">
        <h1>Your workspaces</h1>
        <form className="row" onSubmit={submit} aria-label="Create a workspace">
          <label className="grow">
            <span className="sr-only">Workspace name</span>
            <input placeholder="New workspace name" value={name} onChange={(e) => setName(e.target.value)} aria-label="Workspace name" />
          </label>
          <button type="submit" className="primary" disabled={create.isPending || !name.trim()}>Create workspace</button>
        </form>
        {create.error && <p className="error" role="alert">{errorText(create.error)}</p>}
        {list.isLoading && <p role="status">Loading…</p>}
        {list.error && <p className="error" role="alert">{errorText(list.error)}</p>}
        <ul className="tiles">
          {list.data?.map((w) => (
            <li key={w.id} className="card tile">
              <Link to={`/w/${w.id}`} className="tile-link">{w.name}</Link>
              <span className={`badge role-${w.role}`}>{w.role}</span>
              {w.description && <p className="muted">{w.description}</p>}
            </li>
          ))}
          {list.data && list.data.length === 0 && <li className="muted">No workspaces yet: create one above.</li>}
        </ul>
      </main>
    </>
  )
}
