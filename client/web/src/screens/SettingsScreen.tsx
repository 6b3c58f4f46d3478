import { useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { ApiError } from '../api/client'
import { useApp } from '../context'
import { useWorkspace } from './WorkspaceLayout'
import { errorText } from './Auth'

export default function SettingsScreen() {
  const { api } = useApp()
  const { workspace, isOwner } = useWorkspace()
  const qc = useQueryClient()
  const ibm = useQuery({
    queryKey: ['ibm', workspace.id],
    queryFn: async () => {
      try {
        return await api.ibm(workspace.id)
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null
        throw e
      }
    },
    enabled: isOwner,
  })
  const [key, setKey] = useState('')
  const [instance, setInstance] = useState('')
  const save = useMutation({
    mutationFn: () => api.putIbm(workspace.id, key, instance),
    onSuccess: () => {
      setKey('')
      qc.invalidateQueries({ queryKey: ['ibm', workspace.id] })
      qc.invalidateQueries({ queryKey: ['backends'] })
    },
  })
  if (!isOwner) return <div className="page"><h1>Settings</h1><p>Only owners can change workspace settings.</p></div>
  function submit(e: FormEvent) {
    e.preventDefault()
    save.mutate()
  }
  return (
    <div className="page narrow">
      <h1>Settings</h1>
      <section className="card" aria-labelledby="ibm-title">
        <h2 id="ibm-title">IBM Quantum credentials</h2>
        <p className="muted">Used for <code>ibm:*</code> backends by this workspace only. The key is stored on the server and never shown again.</p>
        {ibm.data ? (
          <p>Current: instance <code>{ibm.data.instance}</code>, key <code>{ibm.data.api_key_masked}</code>, updated {new Date(ibm.data.updated_at).toLocaleString()}</p>
        ) : ibm.isSuccess ? <p className="muted">Not set: the server's own credentials (if any) apply.</p> : null}
        <form onSubmit={submit} className="stack">
          <label>API key<input type="password" autoComplete="off" required value={key} onChange={(e) => setKey(e.target.value)} /></label>
          <label>Instance (CRN)<input required value={instance} onChange={(e) => setInstance(e.target.value)} placeholder="crn:v1:…" /></label>
          <button type="submit" className="primary" disabled={save.isPending}>Save credentials</button>
        </form>
        {save.error && <p className="error" role="alert">{errorText(save.error)}</p>}
        {save.isSuccess && <p className="ok" role="status">Saved.</p>}
      </section>
    </div>
  )
}
