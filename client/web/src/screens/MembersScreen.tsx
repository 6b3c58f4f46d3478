import { useState, type FormEvent } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useApp } from '../context'
import type { Role } from '../api/types'
import { useWorkspace } from './WorkspaceLayout'
import { errorText } from './Auth'

const ROLES: Role[] = ['owner', 'editor', 'viewer']

export default function MembersScreen() {
  const { api, session } = useApp()
  const { workspace, isOwner } = useWorkspace()
  const qc = useQueryClient()
  const members = useQuery({ queryKey: ['members', workspace.id], queryFn: () => api.members(workspace.id) })
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('editor')
  const done = () => qc.invalidateQueries({ queryKey: ['members', workspace.id] })
  const add = useMutation({ mutationFn: () => api.addMember(workspace.id, email.trim(), role), onSuccess: () => { setEmail(''); void done() } })
  const change = useMutation({ mutationFn: (a: { user: string; role: Role }) => api.setRole(workspace.id, a.user, a.role), onSuccess: done })
  const remove = useMutation({ mutationFn: (user: string) => api.removeMember(workspace.id, user), onSuccess: done })
  function submit(e: FormEvent) {
    e.preventDefault()
    if (email.trim()) add.mutate()
  }
  const err = add.error ?? change.error ?? remove.error
  return (
    <div className="page">
      <h1>Members</h1>
      {isOwner && (
        <form className="row" onSubmit={submit} aria-label="Add a member">
          <input type="email" aria-label="Email of a registered user" placeholder="colleague@example.com" value={email} onChange={(e) => setEmail(e.target.value)} className="grow" required />
          <label>
            <span className="sr-only">Role</span>
            <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => <option key={r}>{r}</option>)}
            </select>
          </label>
          <button type="submit" className="primary" disabled={add.isPending}>Add member</button>
        </form>
      )}
      {err && <p className="error" role="alert">{errorText(err)}</p>}
      <table className="members">
        <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {members.data?.map((m) => (
            <tr key={m.user_id}>
              <td>{m.name}{m.user_id === session?.user.id ? ' (you)' : ''}</td>
              <td>{m.email}</td>
              <td>
                {isOwner ? (
                  <select aria-label={`Role of ${m.name}`} value={m.role} onChange={(e) => change.mutate({ user: m.user_id, role: e.target.value as Role })}>
                    {ROLES.map((r) => <option key={r}>{r}</option>)}
                  </select>
                ) : (
                  <span className={`badge role-${m.role}`}>{m.role}</span>
                )}
              </td>
              <td>
                {(isOwner || m.user_id === session?.user.id) && (
                  <button type="button" className="danger small" onClick={() => remove.mutate(m.user_id)}>
                    {m.user_id === session?.user.id ? 'Leave' : 'Remove'}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
